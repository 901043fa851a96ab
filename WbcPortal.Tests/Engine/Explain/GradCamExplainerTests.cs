using WbcPortal.Engine.Evaluation.Explain;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Engine.Training;
using WbcPortal.Tests.Support;
using static TorchSharp.torch;

namespace WbcPortal.Tests.Engine.Explain;

/// <summary>Grad-CAM from saved weights: for a linear head it must equal the class activation map ReLU(Σ_k w_ck A_k), normalised.</summary>
[Collection(nameof(TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class GradCamExplainerTests : IDisposable
{
    private readonly TempDirectory dir = new("wbc-gradcam");

    public void Dispose() => dir.Dispose();

    [Fact]
    public void With_a_linear_head_grad_cam_is_the_class_activation_map_on_the_models_window()
    {
        var backbone = new ResNet18Backbone(PretrainedModelFiles.Default);
        var config = TrainingPresets.All["default"] with { Head = new HeadSpec([], 0), InputHeight = 96, InputWidth = 128 };
        string weights = Path.Combine(dir.Path, "weights.bin");
        using var model = new WbcClassifier(backbone.CreateResNet(), config.Head, 3, manual_seed(4));
        model.eval();
        model.save(weights);
        using var image = TestImages.Smear(320, 240, 9);

        var explainer = new GradCamExplainer(new BackboneRegistry([backbone]));
        var result = explainer.Explain(weights, config, 3, image, targetClass: 2);

        Assert.Equal(2, result.TargetClass);
        Assert.Equal((3, 4), (result.Height, result.Width)); // a 96 x 128 input is a 3 x 4 grid after the last stage's stride 32
        Assert.InRange(result.Probability, 0, 1);
        var flat = result.Map.Cast<float>().ToArray();
        Assert.All(flat, v => Assert.InRange(v, 0f, 1f));

        // The class activation map, computed directly from the same network on the same window.
        var view = new WbcPortal.Engine.Imaging.CellCrop.ModelView(config.Crop, config.InputHeight, config.InputWidth);
        var preprocessor = backbone.CreatePreprocessor(config.InputHeight, config.InputWidth);
        var data = new float[preprocessor.Length];
        using (var window = view.Window(image))
        using (var centre = view.Center(window))
            preprocessor.Normalize(centre, data);
        using var _ = no_grad();
        var (activations, pooled) = model.Backbone.ForwardWithActivations(tensor(data, [1, 3, 96, 128]));
        var w = model.DenseLayers.Last().weight![2];
        var cam = nn.functional.relu((w.reshape(1, 512, 1, 1) * activations).sum(1)).squeeze(0);
        var expected = (cam / cam.max()).data<float>().ToArray();
        Assert.Equal(expected.Length, flat.Length);
        for (int i = 0; i < flat.Length; i++) Assert.Equal(expected[i], flat[i], 4);
        Assert.Equal((int)model.call(tensor(data, [1, 3, 96, 128])).argmax(1).item<long>(), result.Predicted);

        var (shown, overlay) = GradCamExplainer.Render(image, config, result);
        using (shown)
        using (overlay)
        {
            Assert.Equal((128, 96), (shown.Width, shown.Height));
            Assert.Equal((128, 96), (overlay.Width, overlay.Height));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => explainer.Explain(weights, config, 3, image, targetClass: 3));
    }
}
