using System.Diagnostics;
using TorchSharp;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// A full fine-tune step at 120x160, batch 32: on ready tensors (the bare step) beside the same steps
/// fed by the batch loader (decode, augment, batch on a background thread). The ratio says how well
/// the input pipeline overlaps compute (target: at least 0.9).
/// </summary>
public sealed class TrainingPipelineBenchmark(BenchData data, ResNet18Backbone backbone) : IBenchmark
{
    private const int Height = 120, Width = 160, BatchSize = 32, Batches = 6;

    public string Name => "training";
    public string Description => "Full fine-tune step at 120x160, batch 32: bare step on ready tensors vs fed by the batch loader, img/s";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var classes = Directory.GetDirectories(data.RequireTrainSet()).Order(StringComparer.Ordinal).ToList();
        var images = classes.SelectMany((dir, label) => Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal).Take(BatchSize * (Batches + 1) / classes.Count + 1)
            .Select(f => new LabeledImage(f, f, label))).ToList();

        manual_seed(1);
        using var model = new WbcClassifier(backbone.CreateResNet(), HeadSpec.Linear, classes.Count);
        model.SetTrainableStages(["stem", "layer1", "layer2", "layer3", "layer4"]);
        model.train();
        using var optimizer = optim.Adam(model.parameters(), 1e-4);
        var loader = new BatchLoader(backbone.CreatePreprocessor(Height, Width), new AugmentationConfig(), BatchSize, 1);

        void Step(Batch batch)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(tensor(batch.Data, [batch.Count, 3, Height, Width])), tensor(batch.Labels));
            loss.backward();
            optimizer.step();
        }

        progress?.Report("bare step on a ready batch");
        var ready = loader.Epoch(images, 0, train: true, cancellationToken).First();
        Step(ready); // warm-up
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < Batches; i++) Step(ready);
        double bare = Batches * BatchSize / watch.Elapsed.TotalSeconds;

        progress?.Report("steps fed by the batch loader");
        watch.Restart();
        int seen = 0;
        foreach (var batch in loader.Epoch(images, 1, train: true, cancellationToken).Take(Batches))
        {
            Step(batch);
            seen += batch.Count;
        }
        double fed = seen / watch.Elapsed.TotalSeconds;
        return
        [
            new BenchResult("training.step.ready-tensors", Math.Round(bare, 1), "img/s", null, null, $"ResNet18 + linear head, all stages, Adam, {get_num_threads()} threads"),
            new BenchResult("training.step.batch-loader", Math.Round(fed, 1), "img/s", Math.Round(bare, 1), "training.step.ready-tensors", "decode + flips/rotation/shift/jitter + batch on a background thread"),
        ];
    }
}
