using WbcPortal.Services.Accounts;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Datasets.Splitting.LeakCheck;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Evaluation.LabelIssues;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Grouping;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Review;

/// <summary>Two originals of different classes that are copies of one cell (the leak check's look-alike test across class folders).</summary>
public sealed record CrossClassOriginal(int? GroupA, string ClassA, int ExampleA, int? GroupB, string ClassB, int ExampleB, int Pairs, double Distance);

/// <summary>What a label-issue search stores: the engine's report, the cross-class look-alikes and where the time went.</summary>
public sealed record LabelIssueResult(LabelIssueReport Report, IReadOnlyList<CrossClassOriginal> CrossClass, double FeatureSeconds, double FitSeconds, double CrossClassSeconds);

/// <summary>A stored search as lists show it.</summary>
/// <param name="Issues">Images flagged (confident learning, one image at a time).</param>
/// <param name="LikelyOriginals">Originals most of whose copies are flagged: the count a search leads with everywhere (its
/// title, the dataset page, the job card, the review's "Likely mislabelled" chip and the CLI's <c>likelyOriginals</c>).</param>
public sealed record LabelIssueRunSummary(int Id, int DatasetId, string Dataset, DateTimeOffset CreatedAt, string Mode, int Folds, int Seed, int Images, int Issues, double Seconds,
    int? Originals = null, int? LikelyOriginals = null)
{
    /// <summary>"3 of 120 originals likely mislabelled (159 of 400 images flagged)"; images only for a search stored before originals were counted.</summary>
    public string Headline => LikelyOriginals is int likely && Originals is int originals
        ? $"{likely:N0} of {originals:N0} original{(originals == 1 ? "" : "s")} likely mislabelled ({Issues:N0} of {Images:N0} image{(Images == 1 ? "" : "s")} flagged)"
        : $"{Issues:N0} of {Images:N0} image{(Images == 1 ? "" : "s")} flagged";
}

/// <summary>Progress of a search: its stage and the fraction done.</summary>
public sealed record LabelIssueProgress(string Stage, double Fraction);

/// <summary>
/// Label issues across a whole dataset, cheap mode: frozen ImageNet-backbone features of every image (the default
/// preset's input size and cell crop), a linear head per group fold, confident learning on the out-of-fold
/// probabilities; plus originals filed under two classes (same cell, by the leak check's look-alike test across class
/// folders) and outliers. The result is stored, and opens on the review page as a queue.
/// </summary>
public sealed class LabelIssueService(IDbContextFactory<WbcDbContext> contexts, DatasetService datasets, GroupingService grouping, FrozenFeatureExtractor features,
    ImageStore store, TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public const string Mode = "frozen-head";
    public const string CrossValidationMode = "cross-validation";
    public const int DefaultFolds = 5;
    public const int DefaultSeed = 42;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Demands(PortalAction.FindLabelIssues)]
    public async Task<LabelIssueRunSummary> RunAsync(string dataset, int folds = DefaultFolds, int seed = DefaultSeed, IProgress<LabelIssueProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.FindLabelIssues);
        var summary = await datasets.GetAsync(dataset, cancellationToken);
        if (summary.Classes.Count(c => c.Value > 0) < 2) throw new ArgumentException($"Dataset '{summary.Name}' has fewer than two classes: there is no other label an image could have.");
        var state = await grouping.StateAsync(summary.Id, cancellationToken);
        if (!state.Current)
            await grouping.EnsureGroupedAsync(summary.Id, new Progress<double>(p => progress?.Report(new("source groups", p))), cancellationToken);
        var watch = Stopwatch.StartNew();

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == summary.Id).OrderBy(i => i.Id)
            .Select(i => new { i.Id, i.ClassName, i.SourceGroup, i.Sha256, i.Stored!.Format }).ToListAsync(cancellationToken);
        var labels = rows.Select(r => r.ClassName).Distinct().Order(StringComparer.Ordinal).ToList();
        var labelOf = labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
        var images = rows.Select(r => new LabeledImage(r.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), store.ImagePath(r.Sha256, r.Format), labelOf[r.ClassName])).ToList();

        var config = TrainingPresets.All["default"];
        var vectors = await Task.Run(() => features.Extract(images, config, new Progress<(int Done, int Total)>(p => progress?.Report(new("features", p.Done / (double)p.Total))), cancellationToken), cancellationToken);
        double featureSeconds = watch.Elapsed.TotalSeconds;

        var inputs = rows.Select((r, i) => new LabelIssueInput(r.Id, r.SourceGroup, labelOf[r.ClassName], vectors[i])).ToList();
        var report = await Task.Run(() => LabelIssueFinder.Find(labels, inputs, folds, seed, null, new Progress<double>(p => progress?.Report(new("folds", p))), cancellationToken), cancellationToken);
        double fitSeconds = watch.Elapsed.TotalSeconds - featureSeconds;

        // One cell filed under two class folders: the leak check's look-alike search with the class as the "part".
        var checker = new LeakChecker(LeakCheckOptions.Default);
        var checkInputs = rows.Select(r => new LeakCheckInput(r.Id, SplitParts.Train, store.ImagePath(r.Sha256, r.Format), r.Sha256)).ToList();
        var signatures = await Task.Run(() => checker.Signatures(checkInputs, new Progress<double>(p => progress?.Report(new("same cell under two classes", p))), cancellationToken), cancellationToken);
        // The search compares parts, so each pair of classes is searched as "train" against "test".
        var found = new List<(int A, int B, double Distance)>();
        for (int a = 0; a < labels.Count; a++)
        for (int b = a + 1; b < labels.Count; b++)
        {
            var members = Enumerable.Range(0, rows.Count).Where(i => rows[i].ClassName == labels[a] || rows[i].ClassName == labels[b]).ToList();
            var pairInputs = members.Select(i => checkInputs[i] with { Part = rows[i].ClassName == labels[a] ? SplitParts.Train : SplitParts.Test }).ToList();
            var pairSignatures = members.Select(i => signatures[i]).ToList();
            var pairs = await Task.Run(() => checker.Search(pairInputs, pairSignatures, checker.Options.Threshold, null, cancellationToken), cancellationToken);
            found.AddRange(pairs.Select(c => (members[c.A], members[c.B], c.Distance)));
        }
        var crossClass = found
            .Select(c => (A: rows[c.A], B: rows[c.B], c.Distance))
            .GroupBy(x => (GA: x.A.SourceGroup ?? -x.A.Id, CA: x.A.ClassName, GB: x.B.SourceGroup ?? -x.B.Id, CB: x.B.ClassName))
            .Select(g =>
            {
                var best = g.MinBy(x => x.Distance);
                return new CrossClassOriginal(best.A.SourceGroup, best.A.ClassName, best.A.Id, best.B.SourceGroup, best.B.ClassName, best.B.Id, g.Count(), best.Distance);
            })
            .OrderByDescending(c => c.Pairs).ThenBy(c => c.Distance).ToList();
        double crossSeconds = watch.Elapsed.TotalSeconds - featureSeconds - fitSeconds;

        var result = new LabelIssueResult(report, crossClass, featureSeconds, fitSeconds, crossSeconds);
        var run = new LabelIssueRun
        {
            DatasetId = summary.Id, CreatedAt = clock.GetUtcNow(), Mode = Mode, Folds = folds, Seed = seed, Images = rows.Count, Issues = report.IssueCount,
            Originals = report.Originals.Count, LikelyOriginals = report.LikelyOriginalCount, Seconds = watch.Elapsed.TotalSeconds, ResultJson = JsonSerializer.Serialize(result, Json),
        };
        db.LabelIssueRuns.Add(run);
        await db.SaveChangesAsync(cancellationToken);
        progress?.Report(new("done", 1));
        await audit.RecordAsync(AuditAction.LabelIssueSearch, $"dataset '{dataset}'", $"frozen features, {folds} folds", cancellationToken: CancellationToken.None);
        return new LabelIssueRunSummary(run.Id, summary.Id, summary.Name, run.CreatedAt, run.Mode, folds, seed, run.Images, run.Issues, run.Seconds, run.Originals, run.LikelyOriginals);
    }

    /// <summary>
    /// The full fine-tune mode, at no extra cost: the out-of-fold predictions a finished group cross-validation already
    /// stored (each fold model's calibrated probabilities on its own test fold, which shares no original with its
    /// training folds), then confident learning. Covers the images of the CV's folds: its source split's train and
    /// validation parts.
    /// </summary>
    /// <summary>The newest cross-validation of <paramref name="dataset"/> whose every fold run succeeded, or null.</summary>
    public async Task<string?> NewestFinishedCrossValidationAsync(string dataset, CancellationToken cancellationToken = default)
    {
        var summary = await datasets.GetAsync(dataset, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.CrossValidations.AsNoTracking()
            .Where(c => c.SourceSplit!.DatasetId == summary.Id && c.Runs.Count == c.Folds && c.Runs.All(r => r.Status == RunStatus.Succeeded))
            .OrderByDescending(c => c.Id).Select(c => c.Name).FirstOrDefaultAsync(cancellationToken);
    }

    [Demands(PortalAction.FindLabelIssues)]
    public async Task<LabelIssueRunSummary> FromCrossValidationAsync(string crossValidation, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.FindLabelIssues);
        var watch = Stopwatch.StartNew();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var cv = await db.CrossValidations.AsNoTracking().Include(c => c.SourceSplit)
                     .SingleOrDefaultAsync(c => c.Name == crossValidation || c.Id.ToString() == crossValidation, cancellationToken)
                 ?? throw new ArgumentException($"No cross-validation '{crossValidation}'.");
        var folds = await db.Runs.AsNoTracking().Where(r => r.CrossValidationId == cv.Id).Include(r => r.Split).OrderBy(r => r.Fold).ToListAsync(cancellationToken);
        var deleted = Training.CrossValidationService.DeletedFoldsOf(cv, folds.Select(r => r.Fold ?? 0));
        if (deleted.Count > 0)
            throw new ArgumentException($"Cross-validation '{cv.Name}' is {Training.CrossValidationLifecycle.Describe(RunStatus.Succeeded, deleted.Select(f => f.Fold).ToList())}: the images of a deleted fold have no out-of-fold prediction. Search another cross-validation, or the frozen-head mode.");
        var unfinished = folds.Where(r => r.Status != RunStatus.Succeeded).Select(r => $"fold {r.Fold} ({r.Status})").ToList();
        if (unfinished.Count > 0) throw new ArgumentException($"Cross-validation '{cv.Name}' is not finished: {string.Join(", ", unfinished)}. Every image needs its out-of-fold prediction; resume it first.");

        IReadOnlyList<string>? labels = null;
        var scored = new List<LabelIssueFinder.ScoredImage>();
        var groups = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == cv.SourceSplit!.DatasetId).ToDictionaryAsync(i => i.Id, i => i.SourceGroup, cancellationToken);
        foreach (var run in folds)
        {
            var source = Engine.Evaluation.EvaluationSource.Split(run.Split!.Name, Engine.Datasets.Splitting.SplitPart.Test);
            var evaluation = await db.RunEvaluations.AsNoTracking().Where(e => e.RunId == run.Id && e.Stage == TrainingStage.Model && e.ReportJson != null).WithSource(source)
                                 .Select(e => new { e.Id, e.ReportJson }).SingleOrDefaultAsync(cancellationToken)
                             ?? throw new ArgumentException($"Fold {run.Fold} has no stored evaluation of its test fold.");
            var report = JsonSerializer.Deserialize<Engine.Evaluation.EvaluationReport>(evaluation.ReportJson!, Evaluation.EvaluationService.Json)!;
            labels ??= report.Labels;
            if (!labels.SequenceEqual(report.Labels)) throw new ArgumentException("The folds' models have different classes.");
            var predictions = await db.RunPredictions.AsNoTracking().Where(p => p.EvaluationId == evaluation.Id && p.DatasetImageId != null)
                .Select(p => new { p.DatasetImageId, p.Label, p.LogitsJson }).ToListAsync(cancellationToken);
            foreach (var p in predictions)
            {
                var probabilities = Engine.Evaluation.Calibration.Softmax(JsonSerializer.Deserialize<float[]>(p.LogitsJson) ?? [], report.Temperature);
                scored.Add(new(p.DatasetImageId!.Value, groups.GetValueOrDefault(p.DatasetImageId.Value), p.Label, probabilities, (run.Fold ?? 1) - 1));
            }
        }
        var result = LabelIssueFinder.FromProbabilities(labels!, scored, cv.Folds, cv.Seed);
        var stored = new LabelIssueResult(result, [], 0, watch.Elapsed.TotalSeconds, 0);
        var row = new LabelIssueRun
        {
            DatasetId = cv.SourceSplit!.DatasetId, CreatedAt = clock.GetUtcNow(), Mode = CrossValidationMode, CrossValidationId = cv.Id, Folds = cv.Folds, Seed = cv.Seed, Images = scored.Count,
            Issues = result.IssueCount, Originals = result.Originals.Count, LikelyOriginals = result.LikelyOriginalCount, Seconds = watch.Elapsed.TotalSeconds, ResultJson = JsonSerializer.Serialize(stored, Json),
        };
        db.LabelIssueRuns.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        string dataset = await db.Datasets.AsNoTracking().Where(d => d.Id == row.DatasetId).Select(d => d.Name).SingleAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.LabelIssueSearch, $"cross-validation '{crossValidation}'", "out-of-fold predictions", cancellationToken: CancellationToken.None);
        return new LabelIssueRunSummary(row.Id, row.DatasetId, dataset, row.CreatedAt, row.Mode, row.Folds, row.Seed, row.Images, row.Issues, row.Seconds, row.Originals, row.LikelyOriginals);
    }

    public async Task<IReadOnlyList<LabelIssueRunSummary>> ListAsync(int? datasetId = null, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.LabelIssueRuns.AsNoTracking().Where(r => datasetId == null || r.DatasetId == datasetId).OrderByDescending(r => r.Id)
            .Join(db.Datasets, r => r.DatasetId, d => d.Id, (r, d) => new { r.Id, r.DatasetId, d.Name, r.CreatedAt, r.Mode, r.Folds, r.Seed, r.Images, r.Issues, r.Seconds, r.Originals, r.LikelyOriginals })
            .ToListAsync(cancellationToken);
        return rows.OrderByDescending(r => r.Id).Select(r => new LabelIssueRunSummary(r.Id, r.DatasetId, r.Name, r.CreatedAt, r.Mode, r.Folds, r.Seed, r.Images, r.Issues, r.Seconds, r.Originals, r.LikelyOriginals)).ToList();
    }

    /// <summary>Each image's path inside its dataset (class folder and file), by image id: the "path" of the CLI's items.</summary>
    public async Task<IReadOnlyDictionary<int, string>> ImagePathsAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).ToDictionaryAsync(i => i.Id, i => i.RelativePath, cancellationToken);
    }

    public async Task<(LabelIssueRunSummary Summary, LabelIssueResult Result)?> GetAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.LabelIssueRuns.AsNoTracking().Where(r => r.Id == id)
            .Join(db.Datasets, r => r.DatasetId, d => d.Id, (r, d) => new { Run = r, d.Name }).SingleOrDefaultAsync(cancellationToken);
        if (row is null) return null;
        var r = row.Run;
        var result = JsonSerializer.Deserialize<LabelIssueResult>(r.ResultJson, Json) ?? throw new InvalidDataException($"Label-issue search {id} has no result.");
        return (new LabelIssueRunSummary(r.Id, r.DatasetId, row.Name, r.CreatedAt, r.Mode, r.Folds, r.Seed, r.Images, r.Issues, r.Seconds, r.Originals, r.LikelyOriginals), result);
    }
}
