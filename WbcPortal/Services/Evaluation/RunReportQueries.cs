using WbcPortal.Engine.Compute;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reject;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Engine.Training;
using WbcPortal.Storage;
using WbcPortal.Services.Splits;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Evaluation;

/// <summary>An evaluation's per-image predictions with each image's thumbnail (null where none is stored), in the same order.</summary>
public sealed record PredictionTable(RunReportPredictions Predictions, IReadOnlyList<string?> ThumbnailUrls);

/// <summary>One stored evaluation of a run's exported model, as the dashboard lists it.</summary>
public sealed record ModelEvaluationSummary(int Id, string Source, string Part, int Images, double Accuracy, double MacroF1,
    double? Ece, double? EceUncalibrated, DateTimeOffset? CreatedAt);

/// <summary>A stored evaluation with its full report.</summary>
public sealed record ModelEvaluationReport(ModelEvaluationSummary Summary, EvaluationReport Report);

/// <summary>One image of a confusion-matrix cell: its thumbnail (split) or file name (folder) and its calibrated probability of every class.</summary>
public sealed record GalleryItem(long Id, string? Sha256, string? File, int Label, int Predicted, IReadOnlyList<double> Probabilities)
{
    public double TrueProbability => Probabilities[Label];
    /// <summary>Its pictures (<see cref="EvaluatedImageUrls"/>); null when none is stored.</summary>
    public string? ThumbnailUrl { get; init; }
    public string? FullUrl { get; init; }
    public double PredictedProbability => Probabilities[Predicted];
}

/// <summary>A page of the images whose actual class is <paramref name="Actual"/> and predicted <paramref name="Predicted"/>, most confident first.</summary>
public sealed record GalleryPage(int Actual, int Predicted, int Total, int Page, int PageSize, IReadOnlyList<GalleryItem> Items)
{
    public int Pages => Math.Max(1, (Total + PageSize - 1) / PageSize);
}

/// <summary>The facts beside a run's report; training speed is the mean over the finished epochs, overall and per round
/// (a frozen round on cached features runs far faster than a fine-tune, so the overall mean alone misleads).</summary>
public sealed record RunFacts(double Seconds, WbcPortal.Engine.Compute.ComputeDevice? Device, double? MeanImagesPerSecond, IReadOnlyDictionary<int, double> MeanImagesPerSecondByRound,
    double? Temperature, bool Round1OnCachedFeatures, double? RejectTargetAccuracy = null)
{
    /// <summary>What the figures alone would hide, in words: a round stopped early, a round below chance, a temperature at its bound.</summary>
    public IReadOnlyList<string> Caveats { get; init; } = [];
    /// <summary>What the run's folder holds on disk (model, the weights Grad-CAM reads, checkpoints while it can resume), or null when not measured.</summary>
    public long? DiskBytes { get; init; }
}

/// <summary>Read side of a run's model report: its evaluations, reports, confusion-cell galleries and the exportable document.</summary>
public sealed class RunReportQueries(IDbContextFactory<WbcDbContext> contexts, TimeProvider clock)
{
    public const int DefaultPageSize = 24;

    /// <summary>The run's model evaluations: validation, test, then the others by source.</summary>
    public async Task<IReadOnlyList<ModelEvaluationSummary>> ListAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.RunEvaluations.AsNoTracking()
            .Where(e => e.RunId == runId && e.Stage == TrainingStage.Model)
            .Select(e => new ModelEvaluationSummary(e.Id, RunEvaluationQueries.Title(e.SourceKind, e.SourceName, e.SourcePart, e.SourceFlips, e.Part), RunEvaluationQueries.PartName(e.Part), e.Predictions.Count, e.Accuracy, e.MacroF1, e.Ece, e.EceUncalibrated, e.CreatedAt))
            .ToListAsync(cancellationToken);
        return rows.OrderBy(e => PartOrder(e.Part)).ThenBy(e => e.Source, StringComparer.Ordinal).ToList();
    }

    /// <summary>The evaluation whose images the report lists: the test part, else the first, as <see cref="DefaultSelection"/>.</summary>
    private static int? DefaultEvaluationId(IReadOnlyList<RunEvaluation> evaluations)
    {
        var models = evaluations.Where(e => e.Stage == TrainingStage.Model && e.ReportJson is not null)
            .OrderBy(e => PartOrder(e.Part)).ThenBy(e => e.SourceTitle, StringComparer.Ordinal).ToList();
        return (models.FirstOrDefault(e => e.Part == SplitPart.Test) ?? models.FirstOrDefault())?.Id;
    }

    /// <summary>A run's name, or null for an unknown run.</summary>
    public async Task<string?> RunNameAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => r.Name).SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>The evaluation the dashboard opens with: the test part, else the first.</summary>
    public static ModelEvaluationSummary? DefaultSelection(IReadOnlyList<ModelEvaluationSummary> evaluations) =>
        evaluations.FirstOrDefault(e => e.Part == SplitParts.Test) ?? evaluations.FirstOrDefault();

    public async Task<ModelEvaluationReport?> GetReportAsync(int runId, int evaluationId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var e = await db.RunEvaluations.AsNoTracking()
            .Where(x => x.Id == evaluationId && x.RunId == runId && x.Stage == TrainingStage.Model && x.ReportJson != null)
            .Select(x => new { x.Id, Source = RunEvaluationQueries.Title(x.SourceKind, x.SourceName, x.SourcePart, x.SourceFlips, x.Part), x.Part, Images = x.Predictions.Count, x.Accuracy, x.MacroF1, x.Ece, x.EceUncalibrated, x.CreatedAt, x.ReportJson })
            .SingleOrDefaultAsync(cancellationToken);
        if (e is null) return null;
        var report = Read(e.ReportJson!);
        return new ModelEvaluationReport(new ModelEvaluationSummary(e.Id, e.Source, RunEvaluationQueries.PartName(e.Part), e.Images, e.Accuracy, e.MacroF1, e.Ece, e.EceUncalibrated, e.CreatedAt), report);
    }

    /// <summary>
    /// The images of one confusion-matrix cell, most confident first, with the calibrated probability of every class
    /// (softmax of the stored logits at the evaluation's temperature).
    /// </summary>
    public async Task<GalleryPage> GetCellAsync(int evaluationId, int actual, int predicted, int page = 0, int pageSize = DefaultPageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(page);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var evaluation = await db.RunEvaluations.AsNoTracking().Where(e => e.Id == evaluationId).Select(e => new { e.RunId, e.ReportJson }).SingleOrDefaultAsync(cancellationToken);
        double temperature = evaluation?.ReportJson is { } reportJson ? Read(reportJson).Temperature : 1;
        int runId = evaluation?.RunId ?? 0;
        var cell = db.RunPredictions.AsNoTracking().Where(p => p.EvaluationId == evaluationId && p.Label == actual && p.Predicted == predicted);
        int total = await cell.CountAsync(cancellationToken);
        var rows = await cell.OrderByDescending(p => p.Confidence).ThenBy(p => p.Id).Skip(page * pageSize).Take(pageSize)
            .Select(p => new { p.Id, p.DatasetImageId, p.Sha256, p.File, p.Label, p.Predicted, p.LogitsJson }).ToListAsync(cancellationToken);
        var items = rows.Select(p => new GalleryItem(p.Id, p.Sha256, p.File, p.Label, p.Predicted,
            Calibration.Softmax(JsonSerializer.Deserialize<float[]>(p.LogitsJson) ?? [], temperature))
        {
            ThumbnailUrl = EvaluatedImageUrls.Thumbnail(runId, p.DatasetImageId, p.Sha256),
            FullUrl = EvaluatedImageUrls.Full(runId, p.DatasetImageId, p.Sha256),
        }).ToList();
        return new GalleryPage(actual, predicted, total, page, pageSize, items);
    }

    /// <summary>
    /// Every image of one of the run's model evaluations with what the model answers (a class, or Unidentified under the
    /// evaluation's threshold) and the calibrated probability of every class, in image order; null for an unknown evaluation.
    /// The dashboard's per-image table, its CSV and JSON downloads and the report's predictions section all read it.
    /// </summary>
    public async Task<RunReportPredictions?> GetPredictionsAsync(int runId, int evaluationId, CancellationToken cancellationToken = default) =>
        (await GetPredictionTableAsync(runId, evaluationId, cancellationToken))?.Predictions;

    /// <summary>As <see cref="GetPredictionsAsync"/>, with each image's thumbnail for the dashboard's table (same order).</summary>
    public async Task<PredictionTable?> GetPredictionTableAsync(int runId, int evaluationId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var evaluation = await db.RunEvaluations.AsNoTracking()
            .Where(e => e.Id == evaluationId && e.RunId == runId && e.Stage == TrainingStage.Model && e.ReportJson != null)
            .Select(e => new { Source = RunEvaluationQueries.Title(e.SourceKind, e.SourceName, e.SourcePart, e.SourceFlips, e.Part), e.Part, e.ReportJson }).SingleOrDefaultAsync(cancellationToken);
        if (evaluation is null) return null;
        var report = Read(evaluation.ReportJson!);
        double threshold = report.Coverage?.Threshold ?? 0;
        var rows = await (from p in db.RunPredictions.AsNoTracking()
                          where p.EvaluationId == evaluationId
                          join i in db.DatasetImages.AsNoTracking() on p.DatasetImageId equals i.Id into found
                          from i in found.DefaultIfEmpty()
                          orderby p.Id
                          select new { p.File, p.DatasetImageId, p.Sha256, Path = i == null ? null : i.RelativePath, Group = i == null ? null : i.SourceGroup, p.Original, p.Label, p.LogitsJson })
            .ToListAsync(cancellationToken);
        var labels = report.Labels;
        var images = rows.Select(r =>
        {
            var probabilities = Calibration.Softmax(JsonSerializer.Deserialize<float[]>(r.LogitsJson) ?? [], report.Temperature);
            var decision = RejectRule.Decide(probabilities, threshold);
            return new RunReportPrediction(r.Path ?? r.File ?? "", r.Original ?? r.Group, labels[r.Label], decision.Answer(labels), labels[decision.Predicted],
                decision.Predicted == r.Label, decision.Unidentified, probabilities);
        }).ToList();
        return new PredictionTable(new RunReportPredictions(evaluation.Source, RunEvaluationQueries.PartName(evaluation.Part), labels, threshold, images),
            rows.Select(r => EvaluatedImageUrls.Thumbnail(runId, r.DatasetImageId, r.Sha256)).ToList());
    }

    /// <summary>
    /// The thumbnail of each report key among an evaluation's predictions: a split image's key is its dataset image id, a
    /// folder image's its file (<see cref="EvaluatedImageUrls"/>); keys without a stored picture are left out.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> GetThumbnailsAsync(int evaluationId, IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        var wanted = keys.ToList();
        var ids = wanted.Select(k => int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out int id) ? id : (int?)null).OfType<int>().ToList();
        var files = wanted.Where(k => !int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out _)).ToList();
        if (wanted.Count == 0) return new Dictionary<string, string>();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        int runId = await db.RunEvaluations.AsNoTracking().Where(e => e.Id == evaluationId).Select(e => e.RunId).SingleOrDefaultAsync(cancellationToken);
        var rows = await db.RunPredictions.AsNoTracking()
            .Where(p => p.EvaluationId == evaluationId && p.Sha256 != null
                        && ((p.DatasetImageId != null && ids.Contains(p.DatasetImageId.Value)) || (p.DatasetImageId == null && p.File != null && files.Contains(p.File))))
            .Select(p => new { p.DatasetImageId, p.File, p.Sha256 }).ToListAsync(cancellationToken);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in rows)
        {
            string key = r.DatasetImageId is { } id ? id.ToString(CultureInfo.InvariantCulture) : r.File!;
            if (EvaluatedImageUrls.Thumbnail(runId, r.DatasetImageId, r.Sha256) is { } url) result.TryAdd(key, url);
        }
        return result;
    }

    public static RunFacts Facts(Run run, TrainingConfig config, IReadOnlyList<RunEpoch> epochs) =>
        new(run.Seconds, run.Device, epochs.Count == 0 ? null : epochs.Average(e => e.ImagesPerSecond),
            epochs.GroupBy(e => e.Round).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Average(e => e.ImagesPerSecond)), run.Temperature,
            config.CacheFrozenFeatures && config.Round1.UnfrozenStages.Count == 0, config.RejectTargetAccuracy)
        {
            Caveats = Caveats(run, config, epochs, ClassCount(run.Split)),
        };

    /// <summary>The number of classes the run's split holds (null when its report cannot say).</summary>
    private static int? ClassCount(Split? split)
    {
        if (split?.ReportJson is not { } json) return null;
        try
        {
            return SplitReports.Read(json).Parts.Values.SelectMany(p => p.Keys).Distinct(StringComparer.Ordinal).Count();
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The caveats of a finished or running run, in words: a round that stopped before its epochs (early stopping, and where
    /// the kept weights come from), a round whose best validation accuracy is at or under chance, a calibration temperature at
    /// the bound of its search (the fit did not settle: the model's confidences are far off, or the validation part too small).
    /// </summary>
    public static IReadOnlyList<string> Caveats(Run run, TrainingConfig config, IReadOnlyList<RunEpoch> epochs, int? classes)
    {
        var caveats = new List<string>();
        bool ended = run.Status is RunStatus.Succeeded or RunStatus.Failed or RunStatus.Cancelled or RunStatus.Interrupted;
        foreach (var (round, planned) in new[] { (1, config.Round1.Epochs), (2, config.Round2.Epochs) })
        {
            var done = epochs.Where(e => e.Round == round).OrderBy(e => e.Epoch).ToList();
            if (done.Count == 0) continue;
            bool roundOver = ended || epochs.Any(e => e.Round > round);
            if (roundOver && run.Status != RunStatus.Cancelled && done[^1].Epoch < planned && config.EarlyStoppingPatience > 0)
            {
                var best = done.MaxBy(e => e.ValAccuracy)!;
                caveats.Add(FormattableString.Invariant(
                    $"Round {round} stopped early at epoch {done[^1].Epoch} of {planned}: validation accuracy had not improved for {config.EarlyStoppingPatience} epoch(s); its best, {best.ValAccuracy:P1} at epoch {best.Epoch}, {(config.RestoreBestEpoch ? "is the one kept" : "was not restored")}."));
            }
            if (classes is int k && k > 1 && roundOver && done.Max(e => e.ValAccuracy) <= 1.0 / k)
            {
                caveats.Add(FormattableString.Invariant(
                    $"Round {round} never beat chance: its best validation accuracy, {done.Max(e => e.ValAccuracy):P1}, is at or under {1.0 / k:P1} (one class in {k} guessed). The round learned nothing usable; check the learning rate, the epochs and the data."));
            }
        }
        if (run.Temperature is double t && (t >= Calibration.MaxTemperature * 0.99 || t <= Calibration.MinTemperature * 1.01))
        {
            caveats.Add(FormattableString.Invariant(
                $"The calibration temperature, {t:0.00}, is at the bound of its search ({Calibration.MinTemperature}-{Calibration.MaxTemperature}): the fit did not settle, so calibrated confidences are unreliable (usually a model near chance or a validation part with too few images)."));
        }
        return caveats;
    }

    /// <summary>Everything the exports hold, or null for an unknown run.</summary>
    public async Task<RunReportDocument?> GetDocumentAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Include(r => r.Split).SingleOrDefaultAsync(r => r.Id == runId, cancellationToken);
        if (run is null) return null;
        var epochs = await db.RunEpochs.AsNoTracking().Where(e => e.RunId == runId).OrderBy(e => e.Round).ThenBy(e => e.Epoch).ToListAsync(cancellationToken);
        var evaluations = await db.RunEvaluations.AsNoTracking().Where(e => e.RunId == runId).OrderBy(e => e.Id).ToListAsync(cancellationToken);
        var models = evaluations.Where(e => e.Stage == TrainingStage.Model && e.ReportJson is not null)
            .OrderBy(e => PartOrder(e.Part)).ThenBy(e => e.SourceTitle, StringComparer.Ordinal)
            .Select(e => new RunReportEvaluation(e.SourceTitle, RunEvaluationQueries.PartName(e.Part), e.CreatedAt, Read(e.ReportJson!))).ToList();
        return new RunReportDocument
        {
            RunName = run.Name,
            Split = run.Split?.Name ?? "",
            SplitHonesty = SplitHonestyExport.From(Splits.SplitReports.HonestyOf(run.Split)),
            SplitOriginals = Splits.SplitReports.OriginalsPerPart(run.Split),
            Status = run.Status.ToString(),
            Device = run.Device?.Name(),
            Seconds = run.Seconds,
            CreatedAt = run.CreatedAt,
            FinishedAt = run.FinishedAt,
            ConfigJson = run.ConfigJson,
            Temperature = run.Temperature,
            Epochs = epochs.Select(e => new RunReportEpoch(e.Round, e.Epoch, e.TrainLoss, e.TrainAccuracy, e.ValLoss, e.ValAccuracy, e.Seconds, e.ImagesPerSecond, e.LearningRate)).ToList(),
            Rounds = Rounds(evaluations, run.Split?.Name),
            Evaluations = models,
            Predictions = DefaultEvaluationId(evaluations) is { } shown ? await GetPredictionsAsync(runId, shown, cancellationToken) : null,
            GeneratedAt = clock.GetUtcNow(),
            Generator = $"WbcPortal {SystemStatusService.Version}",
        };
    }

    /// <summary>
    /// The round table: the trainer's stages (untrained, round 1, round 2), then the exported, calibrated model on the
    /// run's own validation and test parts.
    /// </summary>
    public static IReadOnlyList<RunReportRound> Rounds(IReadOnlyList<RunEvaluation> evaluations, string? split)
    {
        var rounds = evaluations.Where(e => e.Stage != TrainingStage.Model).GroupBy(e => e.Stage).OrderBy(g => g.Min(e => e.Id))
            .Select(g => Round(g.Key, g.FirstOrDefault(e => e.Part == SplitPart.Validation), g.FirstOrDefault(e => e.Part == SplitPart.Test))).ToList();
        var model = evaluations.Where(e => e.Stage == TrainingStage.Model).ToList();
        var modelVal = split is null ? null : model.FirstOrDefault(e => e.Source == EvaluationSource.Split(split, SplitPart.Validation));
        var modelTest = split is null ? null : model.FirstOrDefault(e => e.Source == EvaluationSource.Split(split, SplitPart.Test));
        if (modelVal is not null || modelTest is not null) rounds.Add(Round(TrainingStage.Model, modelVal, modelTest));
        return rounds;
    }

    private static RunReportRound Round(TrainingStage stage, RunEvaluation? val, RunEvaluation? test) =>
        new(stage.Name(), stage.Title(), val?.Accuracy, test?.Accuracy, test?.MacroF1);

    private static int PartOrder(string part) => PartOrder(SplitParts.TryParse(part, out var p) ? p : null);
    private static int PartOrder(SplitPart? part) => part switch { SplitPart.Validation => 0, SplitPart.Test => 1, SplitPart.Train => 2, _ => 3 };

    private static EvaluationReport Read(string json) =>
        JsonSerializer.Deserialize<EvaluationReport>(json, EvaluationService.Json) ?? throw new InvalidDataException("Empty evaluation report.");
}
