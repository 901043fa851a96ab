using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Tests.Support;

/// <summary>
/// Finished runs written straight into the database, with epochs, the trainer's round figures and an exported-model
/// test report built by the real <see cref="EvaluationReport"/>: what the compare views read, without training anything.
/// </summary>
public static class RunSeeds
{
    public static readonly IReadOnlyList<string> Labels = ["EOSINOPHIL", "LYMPHOCYTE"];
    public const int PerClass = 20;

    /// <summary>How many test images of a seeded run are copies of one original.</summary>
    public const int ImagesPerOriginal = 5;

    /// <summary>
    /// A succeeded run whose figures follow <paramref name="quality"/> (a proportion): round 2 and the exported model get it as
    /// accuracy (per class: <paramref name="quality"/> of <see cref="PerClass"/> right), round 1 five points less, the untrained head 25 %.
    /// Its logits are <paramref name="margin"/> apart, so a larger margin is more confident (and here worse calibrated).
    /// With <paramref name="storePredictions"/> the model's test evaluation keeps its per-image predictions, keyed by file (as a
    /// folder evaluation keeps them: two such runs hold the same images, so a comparison pairs them).
    /// </summary>
    public static async Task<int> AddRunAsync(IServiceProvider services, string name, TrainingConfig config, double quality,
        double seconds = 120, double imagesPerSecond = 50, double temperature = 1.5, double margin = 2, string split = "seed-split", SplitStrategy strategy = SplitStrategy.Grouped, int suspectPairs = 0,
        bool storePredictions = false)
    {
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync();
        var splitRow = await db.Splits.SingleOrDefaultAsync(s => s.Name == split) ?? await AddSplitAsync(db, split, strategy, suspectPairs);
        var now = DateTimeOffset.UtcNow;
        var run = new Run
        {
            Name = name,
            SplitId = splitRow.Id,
            ConfigJson = config.ToJson(),
            Status = RunStatus.Succeeded,
            Device = WbcPortal.Engine.Compute.ComputeDevice.Cpu,
            Seed = config.Seed,
            CreatedAt = now,
            StartedAt = now,
            FinishedAt = now.AddSeconds(seconds),
            Seconds = seconds,
            CheckpointDirectory = $"runs/{name}",
            ModelPath = $"runs/{name}/model.onnx",
            Temperature = temperature,
        };
        int index = 0;
        foreach (var (round, epochs) in new[] { (1, config.Round1.Epochs), (2, config.Round2.Epochs) })
        {
            for (int epoch = 1; epoch <= epochs; epoch++, index++)
            {
                run.Epochs.Add(new RunEpoch
                {
                    Round = round,
                    Epoch = epoch,
                    TrainLoss = 1.0 / (index + 1),
                    TrainAccuracy = Math.Min(1, quality + 0.01 * index),
                    ValLoss = 1.2 / (index + 1),
                    ValAccuracy = quality - 0.1 + 0.1 * (index + 1) / (config.Round1.Epochs + config.Round2.Epochs),
                    Seconds = 10,
                    ImagesPerSecond = imagesPerSecond,
                    LearningRate = round == 1 ? config.Round1.LearningRate : config.Round2.LearningRate,
                });
            }
        }
        foreach (var (stage, accuracy) in new[] { (WbcPortal.Engine.Training.TrainingStage.Untrained, 0.25), (WbcPortal.Engine.Training.TrainingStage.Round1, quality - 0.05), (WbcPortal.Engine.Training.TrainingStage.Round2, quality) })
        {
            foreach (var part in new[] { WbcPortal.Engine.Datasets.Splitting.SplitPart.Validation, WbcPortal.Engine.Datasets.Splitting.SplitPart.Test })
                run.Evaluations.Add(new RunEvaluation { Stage = stage, Part = part, Accuracy = accuracy, MacroF1 = accuracy - 0.02, MetricsJson = "{}" });
        }

        // The test images are copies of originals: each class's images in fives.
        var predictions = Predictions(quality, margin);
        var groups = predictions.Select((p, i) => (p.Key, Group: (int?)(i / ImagesPerOriginal))).ToDictionary(x => x.Key, x => x.Group);
        var report = EvaluationReport.Build(Labels, predictions, temperature, groups);
        var modelEvaluation = new RunEvaluation
        {
            Stage = TrainingStage.Model,
            Part = WbcPortal.Engine.Datasets.Splitting.SplitPart.Test,
            Source = WbcPortal.Engine.Evaluation.EvaluationSource.Split(split, WbcPortal.Engine.Datasets.Splitting.SplitPart.Test),
            Accuracy = report.Accuracy,
            MacroF1 = report.MacroF1,
            Ece = report.Calibrated.Ece,
            EceUncalibrated = report.Uncalibrated.Ece,
            MetricsJson = "{}",
            ReportJson = JsonSerializer.Serialize(report, EvaluationService.Json),
            CreatedAt = now,
        };
        if (storePredictions)
        {
            foreach (var p in predictions)
            {
                modelEvaluation.Predictions.Add(new RunPrediction
                {
                    File = p.Key,
                    Label = p.Label,
                    Predicted = p.Predicted,
                    Confidence = Calibration.Softmax(p.Logits, temperature)[p.Predicted],
                    LogitsJson = JsonSerializer.Serialize(p.Logits),
                });
            }
        }
        run.Evaluations.Add(modelEvaluation);
        db.Runs.Add(run);
        await db.SaveChangesAsync();
        return run.Id;
    }

    /// <summary>
    /// A finished cross-validation of <paramref name="qualities"/>.Count folds, each an <see cref="AddRunAsync"/> run on its own
    /// fold split, with what a trained fold has on disk and in the database: <c>runs/&lt;id&gt;/model.onnx</c> and one checkpoint
    /// file (two files a fold), and its registered model (not active, as the trainer registers a fold's).
    /// </summary>
    public static async Task<(int CrossValidationId, IReadOnlyList<int> RunIds)> AddCrossValidationAsync(IServiceProvider services, string name,
        IReadOnlyList<double> qualities, TrainingConfig? config = null)
    {
        config ??= TrainingPresets.Get("default");
        var runIds = new List<int>();
        for (int f = 0; f < qualities.Count; f++) runIds.Add(await AddRunAsync(services, $"{name}-fold{f + 1}", config, qualities[f], split: $"{name}-fold{f + 1}"));
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        string root = services.GetRequiredService<WbcPortal.Options.StorageOptions>().DataDirectoryFullPath;
        await using var db = await contexts.CreateDbContextAsync();
        var source = await AddSplitAsync(db, $"{name}-source", SplitStrategy.Grouped, 0);
        var cv = new CrossValidation { Name = name, SourceSplitId = source.Id, Folds = qualities.Count, Seed = 42, ConfigJson = config.ToJson(), CreatedAt = DateTimeOffset.UtcNow };
        db.CrossValidations.Add(cv);
        await db.SaveChangesAsync();
        for (int f = 0; f < runIds.Count; f++)
        {
            var run = await db.Runs.SingleAsync(r => r.Id == runIds[f]);
            string folder = $"runs/{run.Id}";
            run.CrossValidationId = cv.Id;
            run.Fold = f + 1;
            run.CheckpointDirectory = $"{folder}/checkpoints";
            run.ModelPath = $"{folder}/model.onnx";
            Directory.CreateDirectory(Path.Combine(root, folder, "checkpoints"));
            await File.WriteAllBytesAsync(Path.Combine(root, folder, "model.onnx"), new byte[4096]);
            await File.WriteAllBytesAsync(Path.Combine(root, folder, "checkpoints", "last.pt"), new byte[8192]);
            db.Models.Add(new RegisteredModel
            {
                Name = run.Name, OnnxPath = run.ModelPath, Labels = string.Join(",", Labels), InputHeight = config.InputHeight, InputWidth = config.InputWidth,
                IsActive = false, CreatedAt = DateTimeOffset.UtcNow,
            });
        }
        await db.SaveChangesAsync();
        return (cv.Id, runIds);
    }

    /// <summary>Per class, round(quality x <see cref="PerClass"/>) right, the rest taken for the other class.</summary>
    public static IReadOnlyList<ImagePrediction> Predictions(double quality, double margin)
    {
        var predictions = new List<ImagePrediction>();
        int right = (int)Math.Round(quality * PerClass);
        for (int label = 0; label < Labels.Count; label++)
        {
            for (int i = 0; i < PerClass; i++)
            {
                int predicted = i < right ? label : 1 - label;
                var logits = new float[Labels.Count];
                logits[predicted] = (float)margin;
                predictions.Add(new ImagePrediction($"{label}-{i}", label, logits));
            }
        }
        return predictions;
    }

    /// <summary>A split whose report is as the splitter writes it: grouped and leak-checked (leak-free unless <paramref name="suspectPairs"/>), or random (leaky by design).</summary>
    private static async Task<Split> AddSplitAsync(WbcDbContext db, string name, SplitStrategy strategy, int suspectPairs)
    {
        var counts = (IReadOnlyDictionary<string, int>)Labels.ToDictionary(l => l, _ => PerClass);
        var report = new SplitReport(strategy, "0.7,0.15,0.15", 1,
            SplitParts.All.ToDictionary(p => p, _ => counts), strategy == SplitStrategy.Grouped ? 24 : 0, new Dictionary<string, int>(), 0, 0, false, 0,
            OriginalsPerPart: strategy == SplitStrategy.Grouped
                ? SplitParts.All.ToDictionary(p => p, _ => (IReadOnlyDictionary<string, int>)Labels.ToDictionary(l => l, _ => PerClass / ImagesPerOriginal))
                : null)
        {
            LeakCheck = strategy == SplitStrategy.Grouped
                ? new LeakCheckReport("seeded", 1, 120, suspectPairs, [], 0.1)
                : null,
        };
        var dataset = new Dataset { Name = $"{name}-cells", CreatedAt = DateTimeOffset.UtcNow };
        db.Datasets.Add(dataset);
        await db.SaveChangesAsync();
        var split = new Split { DatasetId = dataset.Id, Name = name, Strategy = strategy, Ratios = "0.7,0.15,0.15", ReportJson = WbcPortal.Services.Splits.SplitReports.Write(report), CreatedAt = DateTimeOffset.UtcNow };
        db.Splits.Add(split);
        await db.SaveChangesAsync();
        return split;
    }
}
