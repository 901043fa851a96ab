using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Tests.Support;
using static TorchSharp.torch;

namespace WbcPortal.Tests.Engine.Onnx;

/// <summary>
/// A trained-looking classifier (pretrained backbone with seeded noise on layer3/layer4 and on BatchNorm
/// running statistics, seeded random head) exported to ONNX must give, in ONNX Runtime on the CPU, the
/// logits, probabilities and features TorchSharp gives, at any input size and batch.
/// </summary>
[Trait("Category", "Torch")]
public sealed class ClassifierOnnxExportFixture : IDisposable
{
    public static readonly string[] Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];

    public ClassifierOnnxExportFixture()
    {
        Backbones = new ResNet18Backbone(PretrainedModelFiles.Default);
        Exporter = new ClassifierOnnxExporter(PretrainedModelFiles.Default);
        Sessions = new OnnxSessionFactory(new ComputeOptions { OnnxUseCuda = false, OnnxThreads = 2 });
        Model = ClassifierOnnxExportTests.TrainedLooking(Backbones, new HeadSpec([16], 0.3), Labels.Length, seed: 11);
        Metadata = new ClassifierOnnxMetadata(Labels, 120, 160,
            new Dictionary<string, string> { ["run_id"] = "run-42", ["config"] = "{\"epochs\":3,\"lr\":0.001}" });
        // The older interface (format 1, the core every self-contained export wraps): these tests feed it prepared tensors.
        Bytes = Exporter.Export(Model, Metadata, ClassifierOnnxMetadata.PreparedFormat);
        Session = Sessions.Create(Bytes);
    }

    public ResNet18Backbone Backbones { get; }
    public ClassifierOnnxExporter Exporter { get; }
    public OnnxSessionFactory Sessions { get; }
    public WbcClassifier Model { get; }
    public ClassifierOnnxMetadata Metadata { get; }
    public byte[] Bytes { get; }
    public InferenceSession Session { get; }

    public void Dispose()
    {
        Session.Dispose();
        Model.Dispose();
    }
}

[Trait("Category", "Torch")]
public class ClassifierOnnxExportTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData(224, 224, 1)]
    [InlineData(224, 224, 3)]
    [InlineData(120, 160, 1)]
    [InlineData(120, 160, 3)]
    [InlineData(97, 131, 1)]
    [InlineData(97, 131, 3)]
    public void Onnx_runtime_matches_torchsharp(int height, int width, int batch)
    {
        var d = Compare(fixture.Model, fixture.Session, height, width, batch, seed: height * 1000 + width + batch);
        Log($"{height}x{width} batch {batch}: max abs diff logits {d.Logits:E2}, probs {d.Probs:E2}, features {d.Features:E2}");
        Assert.True(d.Logits <= Tolerance, $"logits differ by {d.Logits}");
        Assert.True(d.Probs <= Tolerance, $"probs differ by {d.Probs}");
        Assert.True(d.Features <= Tolerance, $"features differ by {d.Features}");
    }

    [Fact]
    public void Linear_head_export_matches_torchsharp()
    {
        using var model = TrainedLooking(fixture.Backbones, HeadSpec.Linear, 4, seed: 5);
        using var session = fixture.Sessions.Create(fixture.Exporter.Export(model, new ClassifierOnnxMetadata(ClassifierOnnxExportFixture.Labels, 120, 160), ClassifierOnnxMetadata.PreparedFormat));
        var d = Compare(model, session, 97, 131, 2, seed: 9);
        Log($"linear head, 97x131 batch 2: max abs diff logits {d.Logits:E2}, probs {d.Probs:E2}, features {d.Features:E2}");
        Assert.True(Math.Max(d.Logits, Math.Max(d.Probs, d.Features)) <= Tolerance, $"{d}");
    }

    [Fact]
    public void Exported_backbone_is_the_trained_one_not_the_pretrained_one()
    {
        var input = RandomInput(1, 120, 160, seed: 2);
        var onnx = RunOnnx(fixture.Session, input, [1, 3, 120, 160]);
        using var pretrained = fixture.Backbones.CreateResNet();
        pretrained.eval();
        using var _ = no_grad();
        using var x = tensor(input, [1, 3, 120, 160]);
        using var f = pretrained.call(x);
        double diff = MaxDiff(onnx.Features, f.data<float>().ToArray());
        Log($"exported vs pretrained features: max abs diff {diff:E2}");
        Assert.True(diff > 1e-2, $"the perturbed backbone gives the pretrained features (diff {diff})");
    }

    [Fact]
    public void Probabilities_are_a_softmax_of_the_logits_and_rows_sum_to_one()
    {
        var outputs = RunOnnx(fixture.Session, RandomInput(3, 97, 131, seed: 4), [3, 3, 97, 131]);
        int c = ClassifierOnnxExportFixture.Labels.Length;
        for (int row = 0; row < 3; row++)
        {
            var probs = outputs.Probs.Skip(row * c).Take(c).ToArray();
            Assert.Equal(1.0, probs.Sum(p => (double)p), 5);
            Assert.All(probs, p => Assert.InRange(p, 0f, 1f));
            var logits = outputs.Logits.Skip(row * c).Take(c).ToArray();
            Assert.Equal(Array.IndexOf(logits, logits.Max()), Array.IndexOf(probs, probs.Max()));
        }
    }

    [Fact]
    public void Metadata_round_trips_through_bytes_session_and_file()
    {
        void Check(ClassifierOnnxMetadata read)
        {
            Assert.Equal(fixture.Metadata.Labels, read.Labels);
            Assert.Equal(120, read.InputHeight);
            Assert.Equal(160, read.InputWidth);
            Assert.Equal(fixture.Metadata.Extra.OrderBy(p => p.Key), read.Extra.OrderBy(p => p.Key));
        }

        Check(ClassifierOnnxMetadata.Read(fixture.Bytes));
        Check(ClassifierOnnxMetadata.Read(fixture.Session));

        using var dir = new TempDirectory("wbc-onnx");
        string path = Path.Combine(dir.Path, "models", "classifier.onnx");
        fixture.Exporter.Export(fixture.Model, fixture.Metadata, path, ClassifierOnnxMetadata.PreparedFormat);
        fixture.Exporter.Export(fixture.Model, fixture.Metadata, path, ClassifierOnnxMetadata.PreparedFormat); // overwrites
        Check(ClassifierOnnxMetadata.Read(path));
        Assert.Equal(["classifier.onnx"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        Assert.Equal(fixture.Bytes.Length, new FileInfo(path).Length);
    }

    [Fact]
    public void Graph_has_the_documented_interface()
    {
        var model = ModelProto.Parser.ParseFrom(fixture.Bytes);
        Assert.Equal(8, model.OpsetImport.Single(o => o.Domain == "").Version);
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "AveragePool");
        Assert.All(model.Graph.Node.Where(n => n.OpType is "Conv" or "MaxPool"), n =>
        {
            var pads = n.Attribute.Single(a => a.Name == "pads").Ints;
            Assert.Equal(pads.Take(2), pads.Skip(2));
        });

        var input = fixture.Session.InputMetadata.Single();
        Assert.Equal(ClassifierOnnxExporter.InputName, input.Key);
        Assert.Equal([-1, 3, -1, -1], input.Value.Dimensions);
        Assert.Equal(["N", "", "H", "W"], input.Value.SymbolicDimensions);
        var outputs = fixture.Session.OutputMetadata;
        Assert.Equal([-1, 4], outputs[ClassifierOnnxExporter.LogitsName].Dimensions);
        Assert.Equal([-1, 4], outputs[ClassifierOnnxExporter.ProbsName].Dimensions);
        Assert.Equal([-1, 512], outputs[ClassifierOnnxExporter.FeaturesName].Dimensions);
    }

    [Fact]
    public void Class_count_sets_the_output_width()
    {
        string[] labels = ["a", "b", "c", "d", "e", "f", "g"];
        using var model = TrainedLooking(fixture.Backbones, new HeadSpec([8], 0), labels.Length, seed: 3, perturb: false);
        byte[] bytes = fixture.Exporter.Export(model, new ClassifierOnnxMetadata(labels, 64, 64), ClassifierOnnxMetadata.PreparedFormat);
        using var session = fixture.Sessions.Create(bytes);
        Assert.Equal([-1, 7], session.OutputMetadata[ClassifierOnnxExporter.LogitsName].Dimensions);
        var outputs = RunOnnx(session, RandomInput(2, 64, 64, seed: 1), [2, 3, 64, 64]);
        Assert.Equal(14, outputs.Logits.Length);
        Assert.Equal(14, outputs.Probs.Length);
        Assert.Equal(labels, ClassifierOnnxMetadata.Read(session).Labels);
    }

    [Fact]
    public void Labels_must_match_the_class_count_and_reserved_keys_are_refused()
    {
        Assert.Throws<ArgumentException>(() => fixture.Exporter.Export(fixture.Model, new ClassifierOnnxMetadata(["a", "b", "c"], 120, 160)));
        Assert.Throws<ArgumentException>(() => fixture.Exporter.Export(fixture.Model,
            new ClassifierOnnxMetadata(ClassifierOnnxExportFixture.Labels, 120, 160, new Dictionary<string, string> { ["wbc.labels"] = "x" })));
    }

    /// <summary>The pretrained backbone with seeded noise on layer3/layer4 weights and BatchNorm statistics, and a seeded head.</summary>
    internal static WbcClassifier TrainedLooking(ResNet18Backbone backbones, HeadSpec spec, int classes, int seed, bool perturb = true)
    {
        var model = new WbcClassifier(backbones.CreateResNet(), spec, classes);
        var random = new Random(seed);
        using (no_grad())
        {
            if (perturb)
            {
                foreach (var (name, t) in model.Backbone.state_dict())
                {
                    if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal)) continue;
                    bool late = name.StartsWith("layer3.", StringComparison.Ordinal) || name.StartsWith("layer4.", StringComparison.Ordinal);
                    double scale = name.EndsWith("running_var", StringComparison.Ordinal) ? 0.5
                        : name.EndsWith("running_mean", StringComparison.Ordinal) || late ? 0.2
                        : 0;
                    if (scale == 0) continue;
                    // Relative noise keeps variances positive and the network in its working range.
                    using var noise = tensor(Uniform(random, t.numel(), 1 - scale, 1 + scale), t.shape);
                    t.mul_(noise);
                }
            }
            foreach (var layer in model.DenseLayers)
            {
                double bound = 1 / Math.Sqrt(layer.weight!.shape[1]);
                using var w = tensor(Uniform(random, layer.weight.numel(), -bound, bound), layer.weight.shape);
                layer.weight.copy_(w);
                using var b = tensor(Uniform(random, layer.bias!.numel(), -bound, bound), layer.bias.shape);
                layer.bias.copy_(b);
            }
        }
        model.eval();
        return model;
    }

    private static float[] Uniform(Random random, long count, double low, double high)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)(low + (high - low) * random.NextDouble());
        return values;
    }

    /// <summary>Roughly the range of a preprocessed image (pixel minus mean).</summary>
    private static float[] RandomInput(int batch, int height, int width, int seed)
    {
        var random = new Random(seed);
        var values = new float[batch * 3 * height * width];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 200 - 100);
        return values;
    }

    private sealed record Outputs(float[] Logits, float[] Probs, float[] Features);

    private sealed record Differences(double Logits, double Probs, double Features);

    private static Outputs RunOnnx(InferenceSession session, float[] input, int[] shape)
    {
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, new DenseTensor<float>(input, shape))]);
        float[] Get(string name) => results.Single(r => r.Name == name).AsTensor<float>().ToArray();
        return new Outputs(Get(ClassifierOnnxExporter.LogitsName), Get(ClassifierOnnxExporter.ProbsName), Get(ClassifierOnnxExporter.FeaturesName));
    }

    private static Differences Compare(WbcClassifier model, InferenceSession session, int height, int width, int batch, int seed)
    {
        var input = RandomInput(batch, height, width, seed);
        var onnx = RunOnnx(session, input, [batch, 3, height, width]);

        using var _ = no_grad();
        using var x = tensor(input, [batch, 3, height, width]);
        using var logits = model.call(x);
        using var probs = nn.functional.softmax(logits, 1);
        using var features = model.Features(x);
        Assert.Equal(logits.numel(), onnx.Logits.Length);
        Assert.Equal(features.numel(), onnx.Features.Length);
        return new Differences(
            MaxDiff(onnx.Logits, logits.data<float>().ToArray()),
            MaxDiff(onnx.Probs, probs.data<float>().ToArray()),
            MaxDiff(onnx.Features, features.data<float>().ToArray()));
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (p, q) => Math.Abs(p - (double)q)).Max();
    }

    private static void Log(string message) => TestContext.Current.TestOutputHelper?.WriteLine(message);
}
