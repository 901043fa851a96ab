using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Onnx;

/// <summary>
/// The self-contained export (format 2) against the older one (format 1) of the same weights, in real ONNX Runtime
/// sessions: the portal answers the same from either, and the format-2 graph's own <c>probs</c>, fed only the window's
/// bytes, is the portal's answer (flips, mean image, averaging and temperature inside).
/// </summary>
[Trait("Category", "Torch")]
public sealed class SelfContainedModelTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private const double Tolerance = 1e-5;
    private readonly TempDirectory dir = new("wbc-onnx-self-contained");

    public void Dispose() => dir.Dispose();

    private BackboneRegistry Backbones => new([fixture.Backbones]);

    private static ClassifierOnnxMetadata Metadata(bool crop, bool tta, double temperature = 1.7) =>
        new(ClassifierOnnxExportFixture.Labels, 64, 80, null, crop ? new CellCropSpec { Enabled = true, Size = 0.6 } : CellCropSpec.None,
            Temperature: temperature, TestTimeAugmentation: tta, RejectThreshold: 0.4);

    private static List<Image<Rgb24>> Images() =>
        [TestImages.Smear(320, 240, seed: 5), TestImages.Smear(200, 150, seed: 6), TestImages.Field(640, 480, 7, [(560, 90, 40)])];

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Formats_1_and_2_of_the_same_weights_give_the_portal_the_same_answers(bool crop, bool tta)
    {
        var metadata = Metadata(crop, tta);
        using var older = new OnnxClassifier(fixture.Sessions.Create(fixture.Exporter.Export(fixture.Model, metadata, ClassifierOnnxMetadata.PreparedFormat)), Backbones);
        using var contained = new OnnxClassifier(fixture.Sessions.Create(fixture.Exporter.Export(fixture.Model, metadata)), Backbones);
        Assert.False(older.TakesWindow);
        Assert.True(contained.TakesWindow);
        Assert.Equal(ClassifierOnnxMetadata.WindowFormat, contained.Metadata.Format);

        var images = Images();
        try
        {
            var a = older.Logits(images);
            var b = contained.Logits(images);
            double logits = 0, probabilities = 0;
            for (int i = 0; i < images.Count; i++)
            {
                logits = Math.Max(logits, MaxDiff(a[i], b[i]));
                probabilities = Math.Max(probabilities, MaxDiff(older.Probabilities(a[i]), contained.Probabilities(b[i])));
                var (da, db) = (older.Decide(a[i]), contained.Decide(b[i]));
                Assert.Equal((da.Predicted, da.Unidentified), (db.Predicted, db.Unidentified));
            }
            double features = older.Features(images).Zip(contained.Features(images), MaxDiff).Max();
            Log($"crop {crop}, flips {tta}: logits {logits:E2}, probabilities {probabilities:E2}, features {features:E2}");
            Assert.True(logits <= Tolerance, $"logits differ by {logits}");
            Assert.True(probabilities <= Tolerance, $"probabilities differ by {probabilities}");
            Assert.True(features <= Tolerance, $"features differ by {features}");
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_graphs_probs_from_the_window_alone_are_the_portals_answer(bool tta)
    {
        var metadata = Metadata(crop: true, tta, temperature: 2.3);
        var bytes = fixture.Exporter.Export(fixture.Model, metadata);
        using var classifier = new OnnxClassifier(fixture.Sessions.Create(bytes), Backbones);
        using var session = fixture.Sessions.Create(bytes);
        var images = Images();
        try
        {
            var windows = images.Select(classifier.WindowBytes).ToList();
            var (logits, probs) = RunWindow(session, windows, metadata.InputHeight, metadata.InputWidth);
            var portal = classifier.Logits(images);
            for (int i = 0; i < images.Count; i++)
            {
                Assert.True(MaxDiff(portal[i], logits[i]) <= Tolerance, $"logits of image {i} differ");
                var answer = classifier.Probabilities(portal[i]);
                double diff = MaxDiff(answer, probs[i].Select(p => (double)p).ToArray());
                Log($"flips {tta}, image {i}: graph probs vs the portal's answer {diff:E2}");
                Assert.True(diff <= Tolerance, $"probs of image {i} differ from the portal's by {diff}");
                // The uncalibrated softmax is another answer (the temperature is not 1): the test can tell them apart.
                Assert.True(MaxDiff(Calibration.Softmax(portal[i], 1), answer) > 1e-3);
            }
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public void The_graph_is_opset_8_takes_a_uint8_nhwc_window_and_its_metadata_states_the_window_rule()
    {
        var metadata = Metadata(crop: true, tta: true);
        var proto = fixture.Exporter.Build(fixture.Model, metadata);
        Assert.Equal(8, proto.OpsetImport.Single(o => o.Domain == "").Version);
        using var session = fixture.Sessions.Create(proto.ToByteArray());
        var input = session.InputMetadata.Single();
        Assert.Equal(WindowGraph.WindowName, input.Key);
        Assert.Equal(TensorElementType.UInt8, input.Value.ElementDataType);
        Assert.Equal([-1, 64, 80, 3], input.Value.Dimensions);
        Assert.Equal([-1, 4], session.OutputMetadata[ClassifierOnnxExporter.ProbsName].Dimensions);
        Assert.Equal([-1, 512], session.OutputMetadata[ClassifierOnnxExporter.FeaturesName].Dimensions);

        var props = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("2", props[ClassifierOnnxMetadata.FormatKey]);
        Assert.StartsWith("window: uint8 [N, 64, 80, 3], NHWC, RGB", props[ClassifierOnnxMetadata.InputKey]);
        Assert.Equal(WindowRule.Version.ToString(), props["wbc.crop.version"]);
        Assert.Equal("cell", props["wbc.crop.mode"]);
        Assert.Equal(CellLocator.GridRows.ToString(), props["wbc.crop.grid_rows"]);
        Assert.Equal("15", props["wbc.crop.blue_over_red"]);
        Assert.Equal("0,25,50", props["wbc.crop.threshold_steps"]);
        Assert.Equal("0.6", props["wbc.crop.window_height"]);
        Assert.Equal("0.002", props["wbc.crop.min_area"]);
        Assert.Equal(1.7, WindowGraph.Temperature(proto), 6);
        Assert.True(WindowGraph.Flips(proto));
        // The metadata reads back whole, and writing it again gives the same keys.
        var read = ClassifierOnnxMetadata.Read(proto);
        Assert.Equal((metadata with { Format = ClassifierOnnxMetadata.WindowFormat }).ToProperties(), read.ToProperties());
        Assert.Equal(proto.MetadataProps.Select(p => KeyValuePair.Create(p.Key, p.Value)), read.ToProperties());

        var whole = fixture.Exporter.Build(fixture.Model, Metadata(crop: false, tta: false)).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("whole", whole["wbc.crop.mode"]);
        Assert.DoesNotContain("wbc.crop.grid_rows", whole.Keys);
    }

    [Fact]
    public void Recalibration_moves_the_graphs_temperature_with_the_metadata()
    {
        string path = Path.Combine(dir.Path, "model.onnx");
        fixture.Exporter.Export(fixture.Model, Metadata(crop: true, tta: true, temperature: 1.0), path);
        ModelProtoFile.RewriteMetadata(path, m => m with { Temperature = 0.45, RejectThreshold = 0.7 });
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal(0.45, WindowGraph.Temperature(proto), 6);
        Assert.Equal(0.45, ClassifierOnnxMetadata.Read(proto).Temperature);

        using var classifier = OnnxClassifier.Load(path, fixture.Sessions, Backbones);
        using var session = fixture.Sessions.Create(path);
        using var image = TestImages.Smear(320, 240, seed: 8);
        var (_, probs) = RunWindow(session, [classifier.WindowBytes(image)], 64, 80);
        var answer = classifier.Probabilities(classifier.Logits([image])[0]);
        Assert.True(MaxDiff(answer, probs[0].Select(p => (double)p).ToArray()) <= Tolerance);

        // An older export keeps its graph byte for byte: only the metadata changes.
        string older = Path.Combine(dir.Path, "older.onnx");
        fixture.Exporter.Export(fixture.Model, Metadata(crop: true, tta: true), older, ClassifierOnnxMetadata.PreparedFormat);
        var graphBefore = ModelProto.Parser.ParseFrom(File.ReadAllBytes(older)).Graph.ToByteArray();
        ModelProtoFile.RewriteMetadata(older, m => m with { Temperature = 0.45 });
        var after = ModelProto.Parser.ParseFrom(File.ReadAllBytes(older));
        Assert.Equal(graphBefore, after.Graph.ToByteArray());
        Assert.Equal(0.45, ClassifierOnnxMetadata.Read(after).Temperature);
        Assert.Throws<ArgumentException>(() => ModelProtoFile.RewriteMetadata(older, m => m with { Format = ClassifierOnnxMetadata.WindowFormat }));
    }

    [Fact]
    public void Overriding_the_flips_of_a_self_contained_model_rebuilds_its_front()
    {
        string contained = Path.Combine(dir.Path, "contained.onnx"), older = Path.Combine(dir.Path, "older.onnx");
        var metadata = Metadata(crop: true, tta: true);
        fixture.Exporter.Export(fixture.Model, metadata, contained);
        fixture.Exporter.Export(fixture.Model, metadata, older, ClassifierOnnxMetadata.PreparedFormat);
        var images = Images();
        try
        {
            foreach (bool flips in new[] { false, true })
            {
                using var a = OnnxClassifier.Load(older, fixture.Sessions, Backbones, flips);
                using var b = OnnxClassifier.Load(contained, fixture.Sessions, Backbones, flips);
                Assert.Equal(flips, b.TestTimeAugmentation);
                Assert.True(b.Metadata.TestTimeAugmentation); // the model's own setting, as the evaluation labels its source
                double diff = a.Logits(images).Zip(b.Logits(images), MaxDiff).Max();
                Assert.True(diff <= Tolerance, $"flips {flips}: logits differ by {diff}");
            }
            using var withFlips = OnnxClassifier.Load(contained, fixture.Sessions, Backbones);
            using var without = OnnxClassifier.Load(contained, fixture.Sessions, Backbones, false);
            Assert.True(withFlips.Logits(images).Zip(without.Logits(images), MaxDiff).Max() > 1e-4, "the flips change nothing: the override is not tested");
            // A session alone cannot be rebuilt: the constructor refuses an override the graph does not do.
            Assert.Throws<ArgumentException>(() => new OnnxClassifier(fixture.Sessions.Create(contained), Backbones, false));
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public void An_ensemble_of_self_contained_members_is_self_contained_and_answers_as_the_older_ensemble()
    {
        using var second = ClassifierOnnxExportTests.TrainedLooking(fixture.Backbones, new HeadSpec([16], 0.3), 4, seed: 12);
        var metadata = Metadata(crop: true, tta: true, temperature: 1.3);
        WbcClassifier[] members = [fixture.Model, second];
        var olderEnsemble = EnsembleOnnxBuilder.Build(members.Select(m => fixture.Exporter.Build(m, metadata, ClassifierOnnxMetadata.PreparedFormat)).ToList(), metadata);
        var ensemble = EnsembleOnnxBuilder.Build(members.Select(m => fixture.Exporter.Build(m, metadata)).ToList(), metadata);
        Assert.False(WindowGraph.TakesWindow(olderEnsemble));
        Assert.True(WindowGraph.TakesWindow(ensemble));
        Assert.Equal(1.3, WindowGraph.Temperature(ensemble), 6);

        using var a = new OnnxClassifier(fixture.Sessions.Create(olderEnsemble.ToByteArray()), Backbones);
        using var b = new OnnxClassifier(fixture.Sessions.Create(ensemble.ToByteArray()), Backbones);
        using var session = fixture.Sessions.Create(ensemble.ToByteArray());
        var images = Images();
        try
        {
            var la = a.Logits(images);
            var lb = b.Logits(images);
            var (_, probs) = RunWindow(session, images.Select(b.WindowBytes).ToList(), 64, 80);
            for (int i = 0; i < images.Count; i++)
            {
                Assert.True(MaxDiff(la[i], lb[i]) <= Tolerance, $"ensemble logits of image {i} differ");
                Assert.True(MaxDiff(b.Probabilities(lb[i]), probs[i].Select(p => (double)p).ToArray()) <= Tolerance, $"ensemble probs of image {i} are not the portal's answer");
            }
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public void The_validator_takes_a_self_contained_model_and_refuses_one_whose_temperature_disagrees()
    {
        var validator = new ClassifierOnnxValidator(fixture.Sessions, Backbones);
        var proto = fixture.Exporter.Build(fixture.Model, Metadata(crop: true, tta: true));
        var fits = validator.Validate(proto.ToByteArray(), TestContext.Current.CancellationToken);
        Assert.True(fits.Fits, string.Join(" ", fits.Problems));
        Assert.Equal(ClassifierOnnxMetadata.WindowFormat, fits.Metadata!.Format);

        WindowGraph.SetTemperature(proto, 3.0); // the constant moved without the metadata
        var refused = validator.Validate(proto.ToByteArray(), TestContext.Current.CancellationToken);
        Assert.False(refused.Fits);
        Assert.Contains(refused.Problems, p => p.Contains("temperature", StringComparison.Ordinal));

        var older = fixture.Exporter.Build(fixture.Model, Metadata(crop: true, tta: true), ClassifierOnnxMetadata.PreparedFormat);
        older.MetadataProps.Single(p => p.Key == ClassifierOnnxMetadata.FormatKey).Value = "2";
        var mislabelled = validator.Validate(older.ToByteArray(), TestContext.Current.CancellationToken);
        Assert.False(mislabelled.Fits);
    }

    [Fact]
    public void An_older_export_is_downloaded_self_contained_with_the_same_answers()
    {
        string older = Path.Combine(dir.Path, "older.onnx"), contained = Path.Combine(dir.Path, "contained.onnx");
        var metadata = Metadata(crop: true, tta: true, temperature: 0.8);
        fixture.Exporter.Export(fixture.Model, metadata, older, ClassifierOnnxMetadata.PreparedFormat);
        fixture.Exporter.Export(fixture.Model, metadata, contained);
        Assert.Null(fixture.Exporter.SelfContainedCopy(contained)); // served as it is
        var before = File.ReadAllBytes(older);
        var copy = fixture.Exporter.SelfContainedCopy(older)!;
        Assert.Equal(before, File.ReadAllBytes(older)); // the stored file is untouched

        using var a = OnnxClassifier.Load(older, fixture.Sessions, Backbones);
        using var b = new OnnxClassifier(fixture.Sessions.Create(copy), Backbones);
        using var session = fixture.Sessions.Create(copy);
        Assert.True(b.TakesWindow);
        Assert.Equal(a.Metadata.ToProperties().Where(p => p.Key != ClassifierOnnxMetadata.FormatKey && p.Key != ClassifierOnnxMetadata.InputKey),
            b.Metadata.ToProperties().Where(p => p.Key != ClassifierOnnxMetadata.FormatKey && p.Key != ClassifierOnnxMetadata.InputKey));
        var images = Images();
        try
        {
            var la = a.Logits(images);
            var (logits, probs) = RunWindow(session, images.Select(b.WindowBytes).ToList(), 64, 80);
            for (int i = 0; i < images.Count; i++)
            {
                Assert.True(MaxDiff(la[i], logits[i]) <= Tolerance, $"logits of image {i} differ");
                Assert.True(MaxDiff(a.Probabilities(la[i]), probs[i].Select(p => (double)p).ToArray()) <= Tolerance, $"probs of image {i} are not the portal's answer");
            }
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    /// <summary>The graph run on window bytes alone, as a program outside the portal would: its logits and probs per image.</summary>
    private static (float[][] Logits, float[][] Probs) RunWindow(InferenceSession session, IReadOnlyList<byte[]> windows, int height, int width)
    {
        var data = windows.SelectMany(w => w).ToArray();
        var input = new DenseTensor<byte>(data, [windows.Count, height, width, 3]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(WindowGraph.WindowName, input)]);
        float[][] Rows(string name)
        {
            var flat = results.Single(r => r.Name == name).AsTensor<float>().ToArray();
            int c = flat.Length / windows.Count;
            return Enumerable.Range(0, windows.Count).Select(i => flat.AsSpan(i * c, c).ToArray()).ToArray();
        }
        return (Rows(ClassifierOnnxExporter.LogitsName), Rows(ClassifierOnnxExporter.ProbsName));
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (p, q) => Math.Abs(p - (double)q)).Max();
    }

    private static double MaxDiff(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (p, q) => Math.Abs(p - q)).Max();
    }

    private static void Log(string message) => TestContext.Current.TestOutputHelper?.WriteLine(message);
}
