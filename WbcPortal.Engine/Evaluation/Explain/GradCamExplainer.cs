using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Evaluation.Explain;

/// <summary>A Grad-CAM map of one image for one class: values in [0, 1] over the last stage's grid, on the window the model saw.</summary>
public sealed record GradCamResult(int TargetClass, float[,] Map, double Probability, int Predicted)
{
    public int Height => Map.GetLength(0);
    public int Width => Map.GetLength(1);
}

/// <summary>
/// Grad-CAM (Selvaraju et al. 2017) from a run's trained network: the last stage's activations weighted by the spatially
/// averaged gradient of the class's logit, summed over channels, negative parts cut. The network is the checkpoint the
/// run exported (its best epoch where it kept the best), on the same window and input size its model sees. A hint of
/// where the evidence lies, not proof of why.
/// </summary>
public sealed class GradCamExplainer(BackboneRegistry backbones)
{
    /// <summary>The checkpoint's weights that match the exported model.</summary>
    public static string WeightsOf(string checkpointDirectory)
    {
        var checkpoint = Checkpoint.Load(checkpointDirectory) ?? throw new FileNotFoundException($"There is no checkpoint in {checkpointDirectory}.");
        string file = Path.Combine(checkpointDirectory, checkpoint.BestWeightsFile ?? checkpoint.WeightsFile);
        return File.Exists(file) ? file : throw new FileNotFoundException($"The checkpoint's weights {file} are missing.");
    }

    /// <param name="targetClass">The class to explain; null: the predicted one.</param>
    public GradCamResult Explain(string weightsFile, TrainingConfig config, int classes, Image<Rgb24> image, int? targetClass = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(image);
        if (backbones.Get(config.Backbone) is not ResNet18Backbone factory) throw new ArgumentException($"Backbone '{config.Backbone}' has no Grad-CAM.");
        if (targetClass is { } t && (t < 0 || t >= classes)) throw new ArgumentOutOfRangeException(nameof(targetClass));
        var view = new ModelView(config.Crop, config.InputHeight, config.InputWidth);
        var preprocessor = factory.CreatePreprocessor(config.InputHeight, config.InputWidth);
        var data = new float[preprocessor.Length];
        using (var window = view.Window(image))
        using (var centre = view.Center(window))
            preprocessor.Normalize(centre, data);

        using var model = new WbcClassifier(factory.CreateResNet(pretrained: false), config.Head, classes);
        model.load(weightsFile);
        model.eval();
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var input = tensor(data, [1, 3, config.InputHeight, config.InputWidth]);
        var (activations, pooled) = model.Backbone.ForwardWithActivations(input);
        var logits = model.Head.call(pooled);
        var probabilities = nn.functional.softmax(logits, 1);
        int predicted = (int)logits.argmax(1).item<long>();
        int target = targetClass ?? predicted;
        var score = logits[0, target];
        var gradient = autograd.grad([score], [activations])[0];
        var weights = gradient.mean([2, 3], keepdim: true);
        var cam = nn.functional.relu((weights * activations).sum(1)).squeeze(0);
        var max = cam.max().item<float>();
        if (max > 0) cam = cam / max;
        var values = cam.detach().cpu().data<float>().ToArray();
        int h = (int)cam.shape[0], w = (int)cam.shape[1];
        var map = new float[h, w];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) map[y, x] = values[y * w + x];
        return new GradCamResult(target, map, probabilities[0, target].item<float>(), predicted);
    }

    /// <summary>The window the model sees (its input size), and the same with the map laid over it in a blue-to-red scale.</summary>
    public static (Image<Rgb24> Window, Image<Rgb24> Overlay) Render(Image<Rgb24> image, TrainingConfig config, GradCamResult result, float opacity = 0.45f)
    {
        var view = new ModelView(config.Crop, config.InputHeight, config.InputWidth);
        using var window = view.Window(image);
        var centre = view.Center(window);
        using var heat = new Image<Rgb24>(result.Width, result.Height);
        for (int y = 0; y < result.Height; y++) for (int x = 0; x < result.Width; x++) heat[x, y] = Jet(result.Map[y, x]);
        heat.Mutate(c => c.Resize(centre.Width, centre.Height, KnownResamplers.Triangle));
        var overlay = centre.Clone();
        overlay.Mutate(c => c.DrawImage(heat, opacity));
        return (centre, overlay);
    }

    private static Rgb24 Jet(float v)
    {
        v = Math.Clamp(v, 0, 1);
        float r = Math.Clamp(1.5f - Math.Abs(4 * v - 3), 0, 1), g = Math.Clamp(1.5f - Math.Abs(4 * v - 2), 0, 1), b = Math.Clamp(1.5f - Math.Abs(4 * v - 1), 0, 1);
        return new Rgb24((byte)(255 * r), (byte)(255 * g), (byte)(255 * b));
    }
}
