using System.Diagnostics;
using TorchSharp;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// Fine-tune steps with the <c>default</c> preset's input (cell crop, size, augmentation, round-2 stages, batch):
/// on ready tensors (the bare step) beside the same steps fed by the batch loader, first with a cold cache
/// (decode + locate the cell + crop + augment) and then warm (augment only, as in every epoch after the first).
/// The ratio says how well the input pipeline overlaps compute (target: at least 0.9).
/// </summary>
public sealed class TrainingPipelineBenchmark(BenchData data, ResNet18Backbone backbone) : IBenchmark
{
    private const int Batches = 6;

    public string Name => "training";
    public string Description => "Fine-tune step (default preset): bare step on ready tensors vs fed by the batch loader, cold and warm cache, img/s";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var config = TrainingPresets.Get("default");
        int batchSize = config.BatchSize;
        var classes = Directory.GetDirectories(data.RequireTrainSet()).Order(StringComparer.Ordinal).ToList();
        var images = classes.SelectMany((dir, label) => Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal).Take(batchSize * Batches / classes.Count + 1)
            .Select(f => new LabeledImage(f, f, label))).Take(batchSize * Batches).ToList();

        manual_seed(1);
        using var model = new WbcClassifier(backbone.CreateResNet(), config.Head, classes.Count);
        model.SetTrainableStages(config.Round2.UnfrozenStages);
        model.train();
        foreach (var (name, stage) in model.Backbone.Stages)
        {
            if (!config.Round2.UnfrozenStages.Contains(name)) stage.eval();
        }
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), config.Round2.LearningRate, weight_decay: config.WeightDecay);
        var loader = new BatchLoader(backbone.CreatePreprocessor(config.InputHeight, config.InputWidth), config.Augmentation, batchSize, 1, config.Crop);

        void Step(Batch batch)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(tensor(batch.Data, [batch.Count, 3, config.InputHeight, config.InputWidth])), tensor(batch.Labels));
            loss.backward();
            optimizer.step();
        }

        double Fed(int epoch)
        {
            var watch = Stopwatch.StartNew();
            int seen = 0;
            foreach (var batch in loader.Epoch(images, epoch, train: true, cancellationToken))
            {
                Step(batch);
                seen += batch.Count;
            }
            return seen / watch.Elapsed.TotalSeconds;
        }

        progress?.Report("steps fed by the batch loader, cold cache");
        double cold = Fed(1);
        progress?.Report("steps fed by the batch loader, warm cache");
        double warm = Fed(2);

        progress?.Report("bare steps on a ready batch");
        var ready = loader.Epoch(images, 3, train: true, cancellationToken).First();
        Step(ready); // warm-up
        var timer = Stopwatch.StartNew();
        for (int i = 0; i < Batches; i++) Step(ready);
        double bare = Batches * ready.Count / timer.Elapsed.TotalSeconds;

        string input = $"{config.InputWidth}x{config.InputHeight}{(config.Crop.Enabled ? $" cell crop {config.Crop.Size:0.##}" : "")}, stages {string.Join("+", config.Round2.UnfrozenStages)}, batch {batchSize}, {get_num_threads()} threads";
        return
        [
            new BenchResult("training.step.ready-tensors", Math.Round(bare, 1), "img/s", null, null, input),
            new BenchResult("training.step.batch-loader-warm", Math.Round(warm, 1), "img/s", Math.Round(bare, 1), "training.step.ready-tensors", "cached windows: rotation/flip/shift/scale + colour jitter on a background thread (every epoch after the first)"),
            new BenchResult("training.step.batch-loader-cold", Math.Round(cold, 1), "img/s", Math.Round(bare, 1), "training.step.ready-tensors", "first epoch: decode + locate the cell + crop + augment on a background thread"),
        ];
    }
}
