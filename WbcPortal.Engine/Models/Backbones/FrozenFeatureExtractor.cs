using TorchSharp;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Training;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Models.Backbones;

/// <summary>
/// Pooled features of the pretrained (ImageNet) backbone for a list of images, preprocessed as a training
/// configuration would for evaluation (its input size and cell crop, no augmentation): the inputs of a head fitted
/// without fine-tuning, as the label-issue search's cheap mode does.
/// </summary>
public sealed class FrozenFeatureExtractor(TorchRuntime runtime, BackboneRegistry backbones)
{
    public float[][] Extract(IReadOnlyList<LabeledImage> images, TrainingConfig config, IProgress<(int Done, int Total)>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var device = runtime.Resolve(config.Device);
        if (backbones.Get(config.Backbone) is not ResNet18Backbone factory) throw new ArgumentException($"Backbone '{config.Backbone}' has no frozen-feature extractor.");
        using var model = factory.CreateResNet();
        model.to(device);
        model.eval();
        var loader = new BatchLoader(factory.CreatePreprocessor(config.InputHeight, config.InputWidth), config.Augmentation, config.BatchSize, config.Seed, config.Crop);
        var result = new float[images.Count][];
        var index = images.Select((image, i) => (image.Key, i)).ToDictionary(x => x.Key, x => x.i);
        if (index.Count != images.Count) throw new ArgumentException("Every image needs its own key.");
        int total = loader.BatchCount(images.Count), done = 0;
        using var _ = no_grad();
        foreach (var batch in loader.Epoch(images, 0, train: false, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = tensor(batch.Data, [batch.Count, 3, loader.Height, loader.Width]).to(device);
            var features = model.call(x).cpu().data<float>().ToArray();
            int dim = features.Length / batch.Count;
            for (int b = 0; b < batch.Count; b++) result[index[batch.Items[b].Key]] = features.AsSpan(b * dim, dim).ToArray();
            progress?.Report((++done, total));
        }
        return result;
    }
}
