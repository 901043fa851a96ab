using System.IO.Compression;
using Google.Protobuf;
using Onnx;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Onnx;

/// <summary>
/// An ONNX file from elsewhere is served only when it fits: a real exported classifier passes; files that are not ONNX,
/// and exported classifiers changed to break one promise each (metadata, interface, output), are refused with the reason.
/// </summary>
[Trait("Category", "Torch")]
public sealed class ClassifierOnnxValidatorTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private readonly TempDirectory dir = new("wbc-onnx-validator");

    public void Dispose() => dir.Dispose();

    private ClassifierOnnxValidator Validator(long maxBytes = ClassifierOnnxValidator.DefaultMaxBytes) =>
        new(fixture.Sessions, new BackboneRegistry([fixture.Backbones]), maxBytes);

    private ClassifierOnnxValidation Validate(byte[] bytes) => Validator().Validate(bytes, TestContext.Current.CancellationToken);

    /// <summary>The exported classifier, changed by <paramref name="change"/>.</summary>
    private byte[] Edited(Action<ModelProto> change)
    {
        var proto = ModelProto.Parser.ParseFrom(fixture.Bytes);
        change(proto);
        return proto.ToByteArray();
    }

    private static void SetProperty(ModelProto proto, string key, string? value)
    {
        var existing = proto.MetadataProps.SingleOrDefault(p => p.Key == key);
        if (existing is not null) proto.MetadataProps.Remove(existing);
        if (value is not null) proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }

    private static void AssertRefused(ClassifierOnnxValidation result, params string[] expected)
    {
        Assert.False(result.Fits);
        Assert.Null(result.Metadata);
        Assert.Equal(expected, result.Problems);
    }

    [Fact]
    public void An_exported_classifier_fits_with_its_metadata()
    {
        var result = Validate(fixture.Bytes);

        Assert.True(result.Fits, string.Join(" | ", result.Problems));
        Assert.Empty(result.Problems);
        Assert.Equal(ClassifierOnnxExportFixture.Labels, result.Metadata!.Labels);
        Assert.Equal((120, 160), (result.Metadata.InputHeight, result.Metadata.InputWidth));
        Assert.Equal("resnet18-imagenet", result.Metadata.Backbone);
    }

    [Fact]
    public void Files_that_are_not_onnx_models_are_named_for_what_they_are()
    {
        Assert.Equal(["The file is empty."], Validate([]).Problems);

        var garbage = new byte[4096];
        new Random(7).NextBytes(garbage);
        var problem = Assert.Single(Validate(garbage).Problems);
        Assert.StartsWith("The file is not an ONNX model", problem);
        Assert.StartsWith("The file is not an ONNX model", Assert.Single(Validate("not a model, just words\n"u8.ToArray()).Problems));

        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = archive.CreateEntry("model.onnx").Open();
            entry.Write(fixture.Bytes.AsSpan(0, 1000));
        }
        AssertRefused(Validate(zip.ToArray()), "The file is a zip archive, not an ONNX model; unpack it and import the .onnx file inside.");

        using var jpeg = new MemoryStream();
        using (var image = TestImages.Smear(64, 48, seed: 3)) image.SaveAsJpeg(jpeg);
        AssertRefused(Validate(jpeg.ToArray()), "The file is a JPEG image, not an ONNX model.");
    }

    [Fact]
    public void A_file_over_the_size_cap_is_refused_before_it_is_parsed()
    {
        var result = Validator(maxBytes: 1024 * 1024).Validate(fixture.Bytes, TestContext.Current.CancellationToken);
        var problem = Assert.Single(result.Problems);
        Assert.Matches(@"^The file is \d+ MB; models of up to 1\.0 MB are imported\.$", problem);
    }

    [Fact]
    public void A_label_count_other_than_the_logits_width_is_refused()
    {
        string path = Path.Combine(dir.Path, "three-labels.onnx");
        File.WriteAllBytes(path, fixture.Bytes);
        ModelProtoFile.RewriteMetadata(path, m => m with { Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE"] });

        AssertRefused(Validate(File.ReadAllBytes(path)), "The output 'logits' has 4 classes but wbc.labels names 3.");
    }

    [Fact]
    public void A_model_without_the_portal_metadata_is_refused()
    {
        var bytes = Edited(p => p.MetadataProps.Clear());

        AssertRefused(Validate(bytes),
            "The model carries no wbc.* metadata (class labels, input size, backbone): it was not exported as a WbcPortal classifier, and images cannot be prepared for it without them.");
    }

    [Fact]
    public void An_input_fixed_at_another_size_than_the_metadata_is_refused()
    {
        var bytes = Edited(p =>
        {
            var dims = p.Graph.Input.Single().Type.TensorType.Shape.Dim;
            dims[2] = new TensorShapeProto.Types.Dimension { DimValue = 64 };
            dims[3] = new TensorShapeProto.Types.Dimension { DimValue = 64 };
        });

        AssertRefused(Validate(bytes), "The input is fixed at 64×64 pixels (width × height) but the metadata says 160×120.");
    }

    [Fact]
    public void An_input_size_in_the_metadata_that_training_never_makes_is_refused()
    {
        var bytes = Edited(p => SetProperty(p, ClassifierOnnxMetadata.InputHeightKey, "5000"));

        AssertRefused(Validate(bytes), "wbc.input_height is 5000; the input must be 32 to 1024 pixels each way, as training allows.");
    }

    [Fact]
    public void Every_bad_metadata_value_and_the_graph_disagreeing_with_the_rest_is_its_own_sentence()
    {
        var bytes = Edited(p =>
        {
            SetProperty(p, ClassifierOnnxMetadata.LabelsKey, """["EOSINOPHIL","LYMPHOCYTE","EOSINOPHIL"]""");
            SetProperty(p, ClassifierOnnxMetadata.InputWidthKey, null);
            SetProperty(p, ClassifierOnnxMetadata.TemperatureKey, "0");
            SetProperty(p, ClassifierOnnxMetadata.RejectThresholdKey, "1.5");
            SetProperty(p, ClassifierOnnxMetadata.BackboneKey, "vit-b16");
        });

        AssertRefused(Validate(bytes),
            "wbc.labels names 'EOSINOPHIL' 2 times; class names must be distinct.",
            "The model has no wbc.input_width metadata (the input width it was trained at).",
            "wbc.temperature must be a positive number, not '0'.",
            "wbc.reject_threshold must be a probability from 0 to 1, not '1.5'.",
            "The backbone 'vit-b16' is unknown to this portal (it knows resnet18-imagenet), so images cannot be prepared as the model expects.",
            // The graph is still held to what the metadata says where it reads.
            "The output 'logits' has 4 classes but wbc.labels names 3.");
    }

    [Fact]
    public void An_input_under_another_name_is_refused()
    {
        var bytes = Edited(p =>
        {
            p.Graph.Input.Single().Name = "pixels";
            foreach (var node in p.Graph.Node)
            {
                for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == ClassifierOnnxExporter.InputName) node.Input[i] = "pixels";
            }
        });

        AssertRefused(Validate(bytes), "The model has no input named 'input' (its input is 'pixels'); a classifier takes one, named 'input'.");
    }

    [Fact]
    public void A_fixed_batch_of_one_is_refused_because_serving_batches()
    {
        var bytes = Edited(p => p.Graph.Input.Single().Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = 1 });

        AssertRefused(Validate(bytes),
            "The input's batch dimension is fixed at 1; it must be dynamic, because the portal classifies images in batches (and four views of each with test-time flips).");
    }

    [Fact]
    public void A_model_without_a_logits_output_is_refused()
    {
        var bytes = Edited(p => p.Graph.Output.Remove(p.Graph.Output.Single(o => o.Name == ClassifierOnnxExporter.LogitsName)));

        AssertRefused(Validate(bytes), "The model has no output named 'logits' (its outputs: 'probs', 'features').");
    }

    [Fact]
    public void The_test_run_refuses_a_model_answering_non_finite_logits()
    {
        // Interface and metadata are right; only running it shows the answer is NaN.
        var bytes = Edited(p =>
        {
            var last = p.Graph.Node.Single(n => n.Output.Contains(ClassifierOnnxExporter.LogitsName));
            var bias = p.Graph.Initializer.Single(t => t.Name == last.Input[2]);
            int count = (int)bias.Dims.Aggregate(1L, (a, d) => a * d);
            bias.RawData = ByteString.Empty;
            bias.FloatData.Clear();
            bias.FloatData.AddRange(Enumerable.Repeat(float.NaN, count));
        });

        AssertRefused(Validate(bytes), "A test run on blank images answered non-finite logits (NaN or infinity).");
    }

    [Fact]
    public void Weights_in_external_files_are_refused_before_anything_is_loaded()
    {
        var bytes = Edited(p =>
        {
            var weight = p.Graph.Initializer.First();
            weight.RawData = ByteString.Empty;
            weight.FloatData.Clear();
            weight.DataLocation = TensorProto.Types.DataLocation.External;
            weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/passwd" });
        });

        AssertRefused(Validate(bytes), "The model keeps its weights in external data files (../../etc/passwd); only self-contained .onnx files are imported.");
    }
}
