using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Tests.Support;
using static TorchSharp.torch;

namespace WbcPortal.Tests.Engine;

/// <summary>
/// The TorchSharp rebuild of ML.NET's pretrained ResNet18 must give the features ONNX Runtime gives
/// on the original graph (with the original preprocessing graph in front of it).
/// </summary>
[Trait("Category", "Torch")]
[Trait("Category", "RealData")]
public class BackboneParityTests
{
    private static readonly ResNet18Backbone Backbone = new(PretrainedModelFiles.Default);

    [Fact]
    public void Pretrained_weights_map_onto_every_parameter_and_buffer()
    {
        var weights = CntkResNetWeights.Read(PretrainedModelFiles.Default.ResNet18Onnx);
        Assert.Equal(110, weights.Count);
        Assert.Contains(weights, w => w.Name == "layer4.2.conv2.weight" && w.Shape.SequenceEqual(new long[] { 512, 512, 3, 3 }));
        Assert.Contains(weights, w => w.Name == "layer2.0.downsample.0.weight" && w.Shape.SequenceEqual(new long[] { 128, 64, 1, 1 }));
        Assert.Equal(weights.Count, weights.Select(w => w.Name).Distinct().Count());
    }

    [Fact]
    public void Features_match_onnx_runtime_on_a_synthetic_image()
    {
        using var image = TestImages.Smear(seed: 3);
        double diff = MaxFeatureDifference(image);
        Assert.True(diff <= 1e-4, $"max abs difference {diff}");
    }

    [Fact]
    public void Features_match_onnx_runtime_on_a_real_blood_cell_image()
    {
        var train = SharedData.RequireTrainSet();
        var file = Directory.EnumerateFiles(Path.Combine(train, "EOSINOPHIL")).Order(StringComparer.Ordinal).First();
        using var image = Image.Load<Rgb24>(file);
        double diff = MaxFeatureDifference(image);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Path.GetFileName(file)}: max abs feature difference {diff:E2}");
        Assert.True(diff <= 1e-4, $"max abs difference {diff}");
    }

    [Fact]
    public void Preprocessing_reorders_to_bgr_and_subtracts_the_mean_image()
    {
        var pre = Backbone.CreatePreprocessor(224, 224);
        using var image = new Image<Rgb24>(224, 224, new Rgb24(200, 100, 50));
        var data = new float[pre.Length];
        pre.Prepare(image, data);
        var mean = Backbone.Mean.Planes;
        int plane = 224 * 224;
        Assert.Equal(50 - mean[0], data[0], 4);
        Assert.Equal(100 - mean[plane], data[plane], 4);
        Assert.Equal(200 - mean[2 * plane], data[2 * plane], 4);
    }

    private static double MaxFeatureDifference(Image<Rgb24> source)
    {
        using var image = source.Clone(c => c.Resize(224, 224));
        var rgb = BackbonePreprocessor.ToRgbPlanes(image);

        // ONNX Runtime: the original preprocessing graph, then the original ResNet18 graph.
        var factory = new OnnxSessionFactory(new ComputeOptions { OnnxUseCuda = false });
        using var prep = factory.Create(PretrainedModelFiles.Default.PreprocessOnnx);
        using var net = factory.Create(PretrainedModelFiles.Default.ResNet18Onnx);
        var input = new DenseTensor<float>(rgb, [1, 3, 224, 224]);
        using var prepOut = prep.Run([NamedOnnxValue.CreateFromTensor("OriginalInput", input)]);
        var preprocessed = prepOut.First().AsTensor<float>().ToArray();
        using var netOut = net.Run([NamedOnnxValue.CreateFromTensor("Input247", new DenseTensor<float>(preprocessed, [1, 3, 224, 224]))]);
        var expected = netOut.First().AsTensor<float>().ToArray();

        // TorchSharp: our preprocessing, then the rebuilt module.
        var pre = Backbone.CreatePreprocessor(224, 224);
        var ours = new float[pre.Length];
        pre.NormalizeRgbPlanes(rgb, ours);
        using var module = Backbone.CreateResNet();
        module.eval();
        using var _ = no_grad();
        using var x = tensor(ours, [1, 3, 224, 224]);
        using var features = module.call(x);
        var actual = features.data<float>().ToArray();

        Assert.Equal(512, expected.Length);
        Assert.Equal(expected.Length, actual.Length);
        return expected.Zip(actual, (a, b) => Math.Abs(a - (double)b)).Max();
    }
}
