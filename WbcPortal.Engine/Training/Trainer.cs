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

public sealed record RoundResult(TrainingStage Stage, ClassificationMetrics Validation, ClassificationMetrics? Test)
{
    /// <summary>Per-image logits on the validation and test parts (kept for the final model's review and calibration).</summary>
    public IReadOnlyList<ImagePrediction> ValidationPredictions { get; init; } = [];
    public IReadOnlyList<ImagePrediction> TestPredictions { get; init; } = [];
}

/// <summary>The trained model (caller disposes) and what was measured on the way.</summary>
public sealed record TrainingOutcome(WbcClassifier Model, IReadOnlyList<EpochRecord> History, IReadOnlyList<RoundResult> Rounds, ComputeDevice Device, double Seconds);

/// <summary>
/// The two-round transfer-learning loop: evaluate the untrained model, train the head on a frozen
/// backbone, fine-tune the unfrozen stages at a low rate; evaluate after each round. A checkpoint is
/// saved after every epoch (weights and the optimizer's state); a run started again with the same
/// checkpoint folder continues after the last finished epoch and ends with the same figures as a run that
/// was never stopped: every random stream (shuffle, augmentation, dropout) is drawn from (seed, round,
/// epoch), never from what earlier epochs of this process consumed. Nothing is drawn from torch's process-wide
/// generator: the head's initialisation and the dropout masks come from a generator this run owns, shuffling and
/// augmentation from <see cref="Random"/>s seeded from the run, so runs or folds in one process (one after another,
/// or at once) leave each other's figures alone. Cancellation is checked every batch.
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

        using var generator = new Generator((ulong)EpochSeed(config.Seed, 0, 0));
        var factory = (ResNet18Backbone)backbones.Get(config.Backbone);
        var model = new WbcClassifier(factory.CreateResNet(), config.Head, request.Labels.Count, generator);
        model.SetDropoutGenerator(generator);
        try
        {
            return Train(request, config, model, generator, factory, resume, device, watch, progress, cancellationToken);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            model.SetDropoutGenerator(null); // the generator dies with this call; the returned model draws from torch's default
        }
    }

    private TrainingOutcome Train(TrainingRequest request, TrainingConfig config, WbcClassifier model, Generator generator, ResNet18Backbone factory,
        Checkpoint? resume, Device device, Stopwatch watch, IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        if (resume is not null) model.load(Path.Combine(request.CheckpointDirectory, resume.WeightsFile));
        model.to(device);

        var preprocessor = factory.CreatePreprocessor(config.InputHeight, config.InputWidth);
        var loader = new BatchLoader(preprocessor, config.Augmentation, config.BatchSize, config.Seed, config.Crop);
        using var classWeights = ClassWeights(request, config, device);

        var history = new List<EpochRecord>(resume?.History ?? []);
        var rounds = new List<RoundResult>();
        double best = resume?.BestValAccuracy ?? -1;
        int sinceBest = resume?.EpochsSinceBest ?? 0;

        foreach (var done in resume?.History ?? []) progress?.Report(new EpochCompleted(done, Replayed: true));

        var roundConfigs = new[] { config.Round1, config.Round2 };
        bool keepBest = config.RestoreBestEpoch && config.EarlyStoppingPatience > 0;
        // A resumed round that had ended (last epoch, or early stopping) is not trained again, but still ends as it
        // would have: back on its best epoch, evaluated (its evaluation may not have been recorded before the stop).
        bool resumedRoundEnded = resume is not null && RoundEnded(config, roundConfigs[resume.Round - 1], resume);
        bool cachedRound1 = config.CacheFrozenFeatures && config.Round1.UnfrozenStages.Count == 0 && config.Round1.Epochs > 0
            && (resume is null || resume.Round == 1 && !resumedRoundEnded);
        FeatureSet? features = null;
        if (cachedRound1 || resume is null)
        {
            features = cachedRound1 ? ComputeFeatures(model, loader, request, device, progress, cancellationToken) : null;
            if (resume is null)
            {
                rounds.Add(features is not null
                    ? EvaluateFeatures(TrainingStage.Untrained, model, features, request, device, progress)
                    : Evaluate(TrainingStage.Untrained, model, loader, request, device, false, progress, cancellationToken));
            }
        }

        for (int r = 1; r <= 2; r++)
        {
            var round = roundConfigs[r - 1];
            if (round.Epochs == 0) continue;
            if (resume is not null && r < resume.Round) continue;
            bool resumedRound = resume is not null && r == resume.Round;
            int firstEpoch = resumedRound ? (resumedRoundEnded ? round.Epochs + 1 : resume!.Epoch + 1) : 1;
            string? bestWeights = resumedRound ? resume!.BestWeightsFile : null;
            if (resume is null || r > resume.Round) { best = -1; sinceBest = 0; }
            bool onFeatures = r == 1 && features is not null;

            model.SetTrainableStages(round.UnfrozenStages);
            var groups = StageRateGroups(model, round);
            using var optimizer = CreateOptimizer(config, groups, round.LearningRate);
            // Adam's moments and step count (SGD's momentum) go on where they were: a fresh optimizer takes different steps.
            if (resumedRound && !resumedRoundEnded && resume!.OptimizerFile is { } optimizerFile)
            {
                optimizer.load_state_dict(Path.Combine(request.CheckpointDirectory, optimizerFile));
            }

            for (int epoch = firstEpoch; epoch <= round.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // Dropout draws from the run's generator, seeded per epoch: epoch k draws the same numbers whether the
                // process trained epochs 1..k-1 before it or resumed from their checkpoint.
                generator.manual_seed(EpochSeed(config.Seed, r, epoch));
                double lr = config.Schedule == LrSchedule.Cosine
                    ? round.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / round.Epochs))
                    : round.LearningRate;
                foreach (var (group, scale) in optimizer.ParamGroups.Zip(groups.Select(g => g.Scale))) group.LearningRate = lr * scale;

                var record = onFeatures
                    ? TrainHeadEpoch(model, optimizer, features!, request, classWeights, epoch, lr, config, device, progress, cancellationToken)
                    : TrainEpoch(model, optimizer, loader, request, classWeights, r, epoch, round, lr, device, progress, cancellationToken);
                history.Add(record);
                string weights = $"weights-r{r}e{epoch}.bin", optimizerState = $"optimizer-r{r}e{epoch}.bin";
                model.save(Path.Combine(request.CheckpointDirectory, weights));
                optimizer.save_state_dict(Path.Combine(request.CheckpointDirectory, optimizerState));
                if (record.ValAccuracy > best) { best = record.ValAccuracy; sinceBest = 0; bestWeights = keepBest ? weights : null; } else sinceBest++;
                new Checkpoint(r, epoch, weights, history, best, sinceBest) { BestWeightsFile = bestWeights, OptimizerFile = optimizerState }.Save(request.CheckpointDirectory);
                // Reported once the checkpoint holds it: a recorded epoch is never trained again.
                progress?.Report(new EpochCompleted(record));
                progress?.Report(new CheckpointSaved(request.CheckpointDirectory, r, epoch));

                if (config.EarlyStoppingPatience > 0 && sinceBest >= config.EarlyStoppingPatience) break;
            }
            if (keepBest && bestWeights is not null && history[^1] is var last
                && $"weights-r{last.Round}e{last.Epoch}.bin" != bestWeights)
            {
                model.load(Path.Combine(request.CheckpointDirectory, bestWeights));
                progress?.Report(new BestEpochRestored(r, EpochOf(bestWeights)));
            }
            rounds.Add(onFeatures
                ? EvaluateFeatures(TrainingStages.AfterRound(r), model, features!, request, device, progress)
                : Evaluate(TrainingStages.AfterRound(r), model, loader, request, device, false, progress, cancellationToken));
            if (onFeatures) { features!.Dispose(); features = null; }
        }
        features?.Dispose();

        model.to(CPU);
        model.eval();
        return new TrainingOutcome(model, history, rounds, ComputeDevices.Of(device), watch.Elapsed.TotalSeconds);
    }

    private static EpochRecord TrainEpoch(WbcClassifier model, OptimizerHelper optimizer, BatchLoader loader, TrainingRequest request, Tensor? classWeights,
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
        var items = EpochSampler.Draw(request.Train, request.Config.Sampling, request.Config.Seed, round, epoch);
        int batches = loader.BatchCount(items.Count);
        foreach (var batch in loader.Epoch(items, epoch + 1000 * round, train: true, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = tensor(batch.Data, [batch.Count, 3, loader.Height, loader.Width]).to(device);
            var y = tensor(batch.Labels).to(device);
            optimizer.zero_grad();
            Tensor loss, logits;
            if (request.Config.Mixup > 0 && batch.Count > 1)
            {
                // λ and the partner of each image drawn from (seed, round, epoch, batch): a resumed epoch mixes the same.
                var mix = Mixup.Draw(request.Config.Mixup, batch.Count, new Random((int)(EpochSeed(request.Config.Seed, 9000 + round, epoch * 100_000 + batchIndex) & 0x7fffffff)));
                var partner = tensor(mix.Partner).to(device);
                logits = model.call(x * mix.Lambda + x.index_select(0, partner) * (1 - mix.Lambda));
                loss = nn.functional.cross_entropy(logits, y, weight: classWeights, label_smoothing: request.Config.LabelSmoothing) * mix.Lambda
                    + nn.functional.cross_entropy(logits, y.index_select(0, partner), weight: classWeights, label_smoothing: request.Config.LabelSmoothing) * (1 - mix.Lambda);
            }
            else
            {
                logits = model.call(x);
                loss = nn.functional.cross_entropy(logits, y, weight: classWeights, label_smoothing: request.Config.LabelSmoothing);
            }
            loss.backward();
            optimizer.step();
            lossSum += loss.item<float>() * batch.Count;
            correct += (int)logits.argmax(1).eq(y).sum().item<long>();
            seen += batch.Count;
            batchIndex++;
            progress?.Report(new BatchCompleted(round, epoch, batchIndex, batches, lossSum / seen, seen / watch.Elapsed.TotalSeconds));
        }
        double trainSeconds = watch.Elapsed.TotalSeconds;
        var (valLoss, valPredictions) = Predict(model, loader, request.Validation, device, false, cancellationToken, b => progress?.Report(new EvaluationProgress(TrainingStages.AfterRound(round).Name(), b.Batch, b.Batches)));
        var valMetrics = Metrics(request.Labels, valPredictions);
        return new EpochRecord(round, epoch, lossSum / seen, (double)correct / seen, valLoss, valMetrics.Accuracy, watch.Elapsed.TotalSeconds, seen / trainSeconds, lr);
    }

    private static RoundResult Evaluate(TrainingStage stage, WbcClassifier model, BatchLoader loader, TrainingRequest request, Device device, bool tta,
        IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        void Report((int Batch, int Batches) b) => progress?.Report(new EvaluationProgress(stage.Name(), b.Batch, b.Batches));
        var (_, val) = Predict(model, loader, request.Validation, device, tta, cancellationToken, Report);
        var test = request.Test.Count > 0 ? Predict(model, loader, request.Test, device, tta, cancellationToken, Report).Predictions : [];
        return Reported(stage, request, val, test, progress);
    }

    private static RoundResult Reported(TrainingStage stage, TrainingRequest request, IReadOnlyList<ImagePrediction> val, IReadOnlyList<ImagePrediction> test, IProgress<TrainingEvent>? progress)
    {
        var valMetrics = Metrics(request.Labels, val);
        var testMetrics = request.Test.Count > 0 ? Metrics(request.Labels, test) : null;
        progress?.Report(new Evaluated(stage, valMetrics, testMetrics));
        return new RoundResult(stage, valMetrics, testMetrics) { ValidationPredictions = val, TestPredictions = test };
    }

    /// <summary>True when the checkpoint's round had ended: its last epoch was trained, or early stopping ended it.</summary>
    private static bool RoundEnded(TrainingConfig config, RoundConfig round, Checkpoint checkpoint) =>
        checkpoint.Epoch >= round.Epochs || (config.EarlyStoppingPatience > 0 && checkpoint.EpochsSinceBest >= config.EarlyStoppingPatience);

    /// <summary>The torch seed of one epoch: a stable mix of (seed, round, epoch), the same in every process.</summary>
    internal static long EpochSeed(int seed, int round, int epoch)
    {
        unchecked
        {
            ulong h = 14695981039346656037;
            foreach (int v in new[] { seed, round, epoch }) h = (h ^ (uint)v) * 1099511628211;
            return (long)(h & 0x7fff_ffff_ffff_ffff);
        }
    }

    private static int EpochOf(string weightsFile) =>
        int.Parse(System.Text.RegularExpressions.Regex.Match(weightsFile, @"e(\d+)\.bin$").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    public static ClassificationMetrics Metrics(IReadOnlyList<string> labels, IEnumerable<ImagePrediction> predictions) =>
        ClassificationMetrics.From(labels, predictions.Select(p => (p.Label, p.Predicted)));

    /// <summary>Mean loss and per-image logits on a part, in eval mode without gradients (with <paramref name="tta"/>: mean logits of the image and its flips).</summary>
    public static (double Loss, IReadOnlyList<ImagePrediction> Predictions) Predict(WbcClassifier model, BatchLoader loader, IReadOnlyList<LabeledImage> images,
        Device device, bool tta, CancellationToken cancellationToken, Action<(int Batch, int Batches)>? onBatch = null)
    {
        model.eval();
        int batchIndex = 0, batches = loader.BatchCount(images.Count);
        using var _ = no_grad();
        using var mean = tensor(loader.Preprocessor.MeanPlanes.ToArray(), [1, 3, loader.Height, loader.Width]).to(device);
        var predictions = new List<ImagePrediction>(images.Count);
        double lossSum = 0;
        foreach (var batch in loader.Epoch(images, 0, train: false, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = tensor(batch.Data, [batch.Count, 3, loader.Height, loader.Width]).to(device);
            var y = tensor(batch.Labels).to(device);
            var logits = tta ? FlipAveraged(model, x, mean) : model.call(x);
            lossSum += nn.functional.cross_entropy(logits, y).item<float>() * batch.Count;
            AddPredictions(predictions, batch.Items, logits);
            onBatch?.Invoke((++batchIndex, batches));
        }
        return (images.Count == 0 ? 0 : lossSum / images.Count, predictions);
    }

    /// <summary>Mean logits of the image and its horizontal, vertical and double flips (the mean image is added back before flipping).</summary>
    public static Tensor FlipAveraged(nn.Module<Tensor, Tensor> model, Tensor x, Tensor mean)
    {
        var raw = x + mean;
        var sum = model.call(x);
        foreach (long[] dims in new[] { new long[] { 3 }, [2], [2, 3] }) sum += model.call(raw.flip(dims) - mean);
        return sum / 4;
    }

    private static void AddPredictions(List<ImagePrediction> predictions, IReadOnlyList<LabeledImage> items, Tensor logits)
    {
        var values = logits.detach().cpu().data<float>().ToArray();
        int classes = (int)logits.shape[1];
        for (int i = 0; i < items.Count; i++) predictions.Add(new ImagePrediction(items[i].Key, items[i].Label, values.AsSpan(i * classes, classes).ToArray()));
    }

    /// <summary>Pooled backbone features of every part, computed once for a frozen round (eval mode, no augmentation).</summary>
    private sealed class FeatureSet : IDisposable
    {
        public required Tensor Train { get; init; }
        public required Tensor TrainLabels { get; init; }
        public required Tensor Validation { get; init; }
        public required Tensor ValidationLabels { get; init; }
        public required Tensor Test { get; init; }

        public void Dispose()
        {
            Train.Dispose(); TrainLabels.Dispose(); Validation.Dispose(); ValidationLabels.Dispose(); Test.Dispose();
        }
    }

    private static FeatureSet ComputeFeatures(WbcClassifier model, BatchLoader loader, TrainingRequest request, Device device,
        IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        model.eval();
        using var _ = no_grad();
        int total = loader.BatchCount(request.Train.Count) + loader.BatchCount(request.Validation.Count) + loader.BatchCount(request.Test.Count), done = 0;
        Tensor Part(IReadOnlyList<LabeledImage> images)
        {
            var chunks = new List<Tensor>();
            foreach (var batch in loader.Epoch(images, 0, train: false, cancellationToken))
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var x = tensor(batch.Data, [batch.Count, 3, loader.Height, loader.Width]).to(device);
                var f = model.Features(x);
                chunks.Add(f.MoveToOuterDisposeScope());
                progress?.Report(new EvaluationProgress("features", ++done, total));
            }
            if (chunks.Count == 0) return zeros(0, CntkResNet18.FeatureDim).to(device);
            var all = cat(chunks, 0);
            foreach (var c in chunks) c.Dispose();
            return all;
        }
        return new FeatureSet
        {
            Train = Part(request.Train),
            TrainLabels = tensor(request.Train.Select(i => (long)i.Label).ToArray()).to(device),
            Validation = Part(request.Validation),
            ValidationLabels = tensor(request.Validation.Select(i => (long)i.Label).ToArray()).to(device),
            Test = Part(request.Test),
        };
    }

    private static EpochRecord TrainHeadEpoch(WbcClassifier model, OptimizerHelper optimizer, FeatureSet features, TrainingRequest request, Tensor? classWeights,
        int epoch, double lr, TrainingConfig config, Device device, IProgress<TrainingEvent>? progress, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        model.Head.train();
        int n = request.Train.Count, batchSize = config.BatchSize, batches = (n + batchSize - 1) / batchSize;
        var order = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        new Random(unchecked(config.Seed * 7919 + epoch)).Shuffle(order);
        using var orderTensor = tensor(order).to(device);
        double lossSum = 0;
        int correct = 0;
        for (int b = 0; b < batches; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var index = orderTensor.narrow(0, b * batchSize, Math.Min(batchSize, n - b * batchSize));
            var x = features.Train.index_select(0, index);
            var y = features.TrainLabels.index_select(0, index);
            optimizer.zero_grad();
            var logits = model.Head.call(x);
            var loss = nn.functional.cross_entropy(logits, y, weight: classWeights, label_smoothing: config.LabelSmoothing);
            loss.backward();
            optimizer.step();
            lossSum += loss.item<float>() * x.shape[0];
            correct += (int)logits.argmax(1).eq(y).sum().item<long>();
            progress?.Report(new BatchCompleted(1, epoch, b + 1, batches, lossSum / Math.Min(n, (b + 1) * batchSize), Math.Min(n, (b + 1) * batchSize) / watch.Elapsed.TotalSeconds));
        }
        double trainSeconds = watch.Elapsed.TotalSeconds;
        model.Head.eval();
        double valLoss;
        double valAccuracy;
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var logits = model.Head.call(features.Validation);
            valLoss = nn.functional.cross_entropy(logits, features.ValidationLabels).item<float>();
            valAccuracy = logits.argmax(1).eq(features.ValidationLabels).sum().item<long>() / (double)Math.Max(1, request.Validation.Count);
        }
        return new EpochRecord(1, epoch, lossSum / n, (double)correct / n, valLoss, valAccuracy, watch.Elapsed.TotalSeconds, n / trainSeconds, lr);
    }

    private static RoundResult EvaluateFeatures(TrainingStage stage, WbcClassifier model, FeatureSet features, TrainingRequest request, Device device, IProgress<TrainingEvent>? progress)
    {
        model.eval();
        using var _ = no_grad();
        List<ImagePrediction> Run(Tensor f, IReadOnlyList<LabeledImage> images)
        {
            var list = new List<ImagePrediction>(images.Count);
            if (images.Count == 0) return list;
            using var scope = NewDisposeScope();
            AddPredictions(list, images, model.Head.call(f));
            return list;
        }
        return Reported(stage, request, Run(features.Validation, request.Validation), Run(features.Test, request.Test), progress);
    }

    /// <summary>
    /// The trainable parameters in groups of one learning-rate scale: one group when the round's stage decay is 1 (the
    /// optimizer state of older checkpoints keeps its shape), else the head at 1, layer4 at the decay, layer3 at its
    /// square, down to the stem.
    /// </summary>
    internal static IReadOnlyList<(IReadOnlyList<Parameter> Parameters, double Scale)> StageRateGroups(WbcClassifier model, RoundConfig round)
    {
        if (round.StageRateDecay >= 1) return [(model.parameters().Where(p => p.requires_grad).ToList(), 1.0)];
        var groups = new List<(IReadOnlyList<Parameter>, double)> { (model.Head.parameters().Where(p => p.requires_grad).ToList(), 1.0) };
        var stages = model.Backbone.Stages;
        for (int i = stages.Count - 1; i >= 0; i--)
        {
            var trainable = stages[i].Module.parameters().Where(p => p.requires_grad).ToList();
            if (trainable.Count > 0) groups.Add((trainable, Math.Pow(round.StageRateDecay, stages.Count - i)));
        }
        return groups;
    }

    private static OptimizerHelper CreateOptimizer(TrainingConfig config, IReadOnlyList<(IReadOnlyList<Parameter> Parameters, double Scale)> groups, double lr) => config.Optimizer switch
    {
        OptimizerKind.Adam => optim.Adam(groups.Select(g => new Adam.ParamGroup(g.Parameters, lr * g.Scale, weight_decay: config.WeightDecay)), lr, weight_decay: config.WeightDecay),
        OptimizerKind.AdamW => optim.AdamW(groups.Select(g => new AdamW.ParamGroup(g.Parameters, lr * g.Scale, weight_decay: config.WeightDecay)), lr, weight_decay: config.WeightDecay),
        OptimizerKind.Sgd => optim.SGD(groups.Select(g => new SGD.ParamGroup(g.Parameters, lr * g.Scale, momentum: 0.9, weight_decay: config.WeightDecay)), lr, momentum: 0.9, weight_decay: config.WeightDecay),
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
