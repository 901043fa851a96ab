using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Training;

/// <summary>What a run trains on.</summary>
public sealed record TrainingRequest(
    TrainingConfig Config,
    IReadOnlyList<string> Labels,
    IReadOnlyList<LabeledImage> Train,
    IReadOnlyList<LabeledImage> Validation,
    IReadOnlyList<LabeledImage> Test,
    string CheckpointDirectory);

public sealed record RoundResult(string Stage, ClassificationMetrics Validation, ClassificationMetrics? Test);

/// <summary>The trained model (caller disposes) and what was measured on the way.</summary>
public sealed record TrainingOutcome(WbcClassifier Model, IReadOnlyList<EpochRecord> History, IReadOnlyList<RoundResult> Rounds, string Device, double Seconds);

/// <summary>
/// The two-round transfer-learning loop: evaluate the untrained model, train the head on a frozen
/// backbone, fine-tune the unfrozen stages at a low rate; evaluate after each round. A checkpoint is
/// saved after every epoch; a run started again with the same checkpoint folder continues after the
/// last finished epoch (the optimizer's moments start afresh there). Cancellation is checked every batch.
/// </summary>
public sealed class Trainer(TorchRuntime runtime, BackboneRegistry backbones)
{
    public TrainingOutcome Train(TrainingRequest request, IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        var config = request.Config;
        config.Validate();
        if (request.Train.Count == 0) throw new ArgumentException("The split's train part is empty.");
        if (request.Validation.Count == 0) throw new ArgumentException("The split's validation part is empty: early stopping and round evaluation need it.");
        if (request.Train.Select(i => i.Label).Distinct().Count() < 2) throw new ArgumentException("The train part holds only one class.");

        var watch = Stopwatch.StartNew();
        var device = runtime.Resolve(config.Device);
        Directory.CreateDirectory(request.CheckpointDirectory);
        var resume = Checkpoint.Load(request.CheckpointDirectory);

        manual_seed(config.Seed);
        var factory = (ResNet18Backbone)backbones.Get(config.Backbone);
        var model = new WbcClassifier(factory.CreateResNet(), config.Head, request.Labels.Count);
        if (resume is not null) model.load(Path.Combine(request.CheckpointDirectory, resume.WeightsFile));
        model.to(device);

        var preprocessor = factory.CreatePreprocessor(config.InputHeight, config.InputWidth);
        var loader = new BatchLoader(preprocessor, config.Augmentation, config.BatchSize, config.Seed);
        using var classWeights = ClassWeights(request, config, device);

        var history = new List<EpochRecord>(resume?.History ?? []);
        var rounds = new List<RoundResult>();
        double best = resume?.BestValAccuracy ?? -1;
        int sinceBest = resume?.EpochsSinceBest ?? 0;

        if (resume is null) rounds.Add(Evaluate("untrained", model, loader, request, device, progress, cancellationToken));
        foreach (var done in resume?.History ?? []) progress?.Report(new EpochCompleted(done, Replayed: true));

        var roundConfigs = new[] { config.Round1, config.Round2 };
        for (int r = 1; r <= 2; r++)
        {
            var round = roundConfigs[r - 1];
            if (round.Epochs == 0) continue;
            if (resume is not null && (r < resume.Round || (r == resume.Round && resume.Epoch >= round.Epochs))) continue;
            int firstEpoch = resume is not null && r == resume.Round ? resume.Epoch + 1 : 1;
            if (resume is null || r > resume.Round) { best = -1; sinceBest = 0; }

            model.SetTrainableStages(round.UnfrozenStages);
            var parameters = model.parameters().Where(p => p.requires_grad).ToList();
            using var optimizer = CreateOptimizer(config, parameters, round.LearningRate);

            for (int epoch = firstEpoch; epoch <= round.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                double lr = config.Schedule == LrSchedule.Cosine
                    ? round.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / round.Epochs))
                    : round.LearningRate;
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

                var record = TrainEpoch(model, optimizer, loader, request, classWeights, r, epoch, round, lr, device, progress, cancellationToken);
                history.Add(record);
                if (record.ValAccuracy > best) { best = record.ValAccuracy; sinceBest = 0; } else sinceBest++;
                string weights = $"weights-r{r}e{epoch}.bin";
                model.save(Path.Combine(request.CheckpointDirectory, weights));
                new Checkpoint(r, epoch, weights, history, best, sinceBest).Save(request.CheckpointDirectory);
                // Reported once the checkpoint holds it: a recorded epoch is never trained again.
                progress?.Report(new EpochCompleted(record));
                progress?.Report(new CheckpointSaved(request.CheckpointDirectory, r, epoch));

                if (config.EarlyStoppingPatience > 0 && sinceBest >= config.EarlyStoppingPatience) break;
            }
            rounds.Add(Evaluate($"round{r}", model, loader, request, device, progress, cancellationToken));
        }

        model.to(CPU);
        model.eval();
        return new TrainingOutcome(model, history, rounds, device.type == DeviceType.CUDA ? "cuda" : "cpu", watch.Elapsed.TotalSeconds);
    }

    private static EpochRecord TrainEpoch(WbcClassifier model, optim.Optimizer optimizer, BatchLoader loader, TrainingRequest request, Tensor? classWeights,
        int round, int epoch, RoundConfig roundConfig, double lr, Device device, IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        model.train();
        // Frozen stages keep their BatchNorm statistics: they stay in eval mode.
        foreach (var (name, stage) in model.Backbone.Stages)
        {
            if (!roundConfig.UnfrozenStages.Contains(name)) stage.eval();
        }
        var watch = Stopwatch.StartNew();
        double lossSum = 0;
        int correct = 0, seen = 0, batchIndex = 0;
        int batches = loader.BatchCount(request.Train.Count);
        foreach (var batch in loader.Epoch(request.Train, epoch + 1000 * round, train: true, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = tensor(batch.Data, [batch.Count, 3, loader.Height, loader.Width]).to(device);
            var y = tensor(batch.Labels).to(device);
            optimizer.zero_grad();
            var logits = model.call(x);
            var loss = nn.functional.cross_entropy(logits, y, weight: classWeights);
            loss.backward();
            optimizer.step();
            lossSum += loss.item<float>() * batch.Count;
            correct += (int)logits.argmax(1).eq(y).sum().item<long>();
            seen += batch.Count;
            batchIndex++;
            progress?.Report(new BatchCompleted(round, epoch, batchIndex, batches, lossSum / seen, seen / watch.Elapsed.TotalSeconds));
        }
        double trainSeconds = watch.Elapsed.TotalSeconds;
        var (valLoss, valMetrics) = Predict(model, loader, request.Validation, request.Labels, device, cancellationToken, b => progress?.Report(new EvaluationProgress($"round{round}", b.Batch, b.Batches)));
        return new EpochRecord(round, epoch, lossSum / seen, (double)correct / seen, valLoss, valMetrics.Accuracy, watch.Elapsed.TotalSeconds, seen / trainSeconds, lr);
    }

    private static RoundResult Evaluate(string stage, WbcClassifier model, BatchLoader loader, TrainingRequest request, Device device,
        IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        void Report((int Batch, int Batches) b) => progress?.Report(new EvaluationProgress(stage, b.Batch, b.Batches));
        var (_, val) = Predict(model, loader, request.Validation, request.Labels, device, cancellationToken, Report);
        ClassificationMetrics? test = request.Test.Count > 0 ? Predict(model, loader, request.Test, request.Labels, device, cancellationToken, Report).Metrics : null;
        progress?.Report(new Evaluated(stage, val, test));
        return new RoundResult(stage, val, test);
    }

    /// <summary>Mean loss and metrics on a part, in eval mode without gradients.</summary>
    public static (double Loss, ClassificationMetrics Metrics) Predict(WbcClassifier model, BatchLoader loader, IReadOnlyList<LabeledImage> images,
        IReadOnlyList<string> labels, Device device, CancellationToken cancellationToken, Action<(int Batch, int Batches)>? onBatch = null)
    {
        model.eval();
        int batchIndex = 0, batches = loader.BatchCount(images.Count);
        using var _ = no_grad();
        var pairs = new List<(int, int)>(images.Count);
        double lossSum = 0;
        foreach (var batch in loader.Epoch(images, 0, train: false, cancellationToken))
        {
            using var scope = NewDisposeScope();
            var x = tensor(batch.Data, [batch.Count, 3, loader.Height, loader.Width]).to(device);
            var y = tensor(batch.Labels).to(device);
            var logits = model.call(x);
            lossSum += nn.functional.cross_entropy(logits, y).item<float>() * batch.Count;
            var predicted = logits.argmax(1).cpu().data<long>().ToArray();
            for (int i = 0; i < batch.Count; i++) pairs.Add(((int)batch.Labels[i], (int)predicted[i]));
            onBatch?.Invoke((++batchIndex, batches));
        }
        return (images.Count == 0 ? 0 : lossSum / images.Count, ClassificationMetrics.From(labels, pairs));
    }

    private static optim.Optimizer CreateOptimizer(TrainingConfig config, IEnumerable<Parameter> parameters, double lr) => config.Optimizer switch
    {
        OptimizerKind.Adam => optim.Adam(parameters, lr, weight_decay: config.WeightDecay),
        OptimizerKind.AdamW => optim.AdamW(parameters, lr, weight_decay: config.WeightDecay),
        OptimizerKind.Sgd => optim.SGD(parameters, lr, momentum: 0.9, weight_decay: config.WeightDecay),
        _ => throw new ArgumentOutOfRangeException(nameof(config)),
    };

    /// <summary>Inverse-frequency class weights (mean 1) when asked for.</summary>
    private static Tensor? ClassWeights(TrainingRequest request, TrainingConfig config, Device device)
    {
        if (!config.ClassWeighting) return null;
        var counts = new double[request.Labels.Count];
        foreach (var image in request.Train) counts[image.Label]++;
        var weights = counts.Select(c => c == 0 ? 0 : request.Train.Count / (counts.Length * c)).Select(w => (float)w).ToArray();
        return tensor(weights).to(device);
    }
}
