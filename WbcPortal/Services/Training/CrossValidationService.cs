using WbcPortal.Services.Accounts;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>
/// One fold's figures: its exported model on its own test fold, by the evaluator <c>evaluate</c> uses. Originals are
/// counted right by majority: an original (source group of one class) is right when its copies are most often called its class.
/// </summary>
public sealed record FoldFigures(double Accuracy, double MacroF1, IReadOnlyDictionary<string, double> PerClassRecall, double? Ece,
    int? Originals, int? OriginalsRight, int TestImages)
{
    public double? OriginalsAccuracy => Originals is > 0 ? (double)OriginalsRight!.Value / Originals.Value : null;

    /// <summary>The fold model's "Unidentified" threshold and what it decides on its test fold; null for a report stored before models had one.</summary>
    public Engine.Evaluation.Reject.CoverageReport? Coverage { get; init; }

    /// <summary>The reliability bins at the fold model's temperature (its reliability diagram).</summary>
    public IReadOnlyList<Engine.Evaluation.ReliabilityBin> Reliability { get; init; } = [];

    /// <summary>The fold model's calibration temperature.</summary>
    public double Temperature { get; init; } = 1;
}

public sealed record CrossValidationFold(int Fold, int RunId, string RunName, string Split, RunStatus Status, string? Error, FoldFigures? Figures)
{
    /// <summary>The fold split's honesty: "not leak-checked" until its run has checked it before training.</summary>
    public WbcPortal.Engine.Datasets.Splitting.SplitHonesty? Honesty { get; init; }
}

/// <summary>Mean or sample standard deviation of the fold figures (null where fewer folds than needed have figures).</summary>
public sealed record FoldStatistic(double? Accuracy, double? MacroF1, IReadOnlyDictionary<string, double> PerClassRecall, double? Ece, double? OriginalsAccuracy)
{
    /// <summary>Share of test images the fold models decide at their own thresholds (the rest "Unidentified").</summary>
    public double? Coverage { get; init; }

    /// <summary>Accuracy on the decided test images.</summary>
    public double? AccuracyDecided { get; init; }
}

/// <summary>A fold whose run was deleted: which fold, and, when the deletion recorded it, the run's name, when and by whom.</summary>
public sealed record DeletedFold(int Fold, string? Run = null, DateTimeOffset? At = null, string? By = null)
{
    /// <summary>"fold 1 (run 'cv-fold1', deleted 2026-12-08 10:31 UTC by admin)".</summary>
    public string Describe() => $"fold {Fold}" + (Run is null ? " (its run was deleted)"
        : $" (run '{Run}', deleted{(At is { } at ? " " + at.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture) : "")}{(By is null ? "" : " by " + By)})");
}

public sealed record CrossValidationSummary(int Id, string Name, string SourceSplit, int Folds, int Seed, TrainingConfig Config, DateTimeOffset CreatedAt,
    RunStatus Status, IReadOnlyList<string> Labels, IReadOnlyList<CrossValidationFold> FoldRuns, FoldStatistic Mean, FoldStatistic Spread, double Seconds, WbcPortal.Engine.Compute.ComputeDevice? Device)
{
    public bool CanResume => CrossValidationLifecycle.CanResume(FoldRuns.Select(f => f.Status).ToList());
    public bool CanStop => CrossValidationLifecycle.CanStop(FoldRuns.Select(f => f.Status).ToList());
    public int Finished => FoldRuns.Count(f => !RunLifecycle.IsActive(f.Status));

    /// <summary>Folds whose run was deleted: the cross-validation can never be whole again.</summary>
    public IReadOnlyList<DeletedFold> DeletedFolds { get; init; } = [];

    public bool Incomplete => DeletedFolds.Count > 0;

    /// <summary>"Succeeded", or "incomplete (fold 1 deleted)" (<see cref="CrossValidationLifecycle.Describe"/>).</summary>
    public string StatusText => CrossValidationLifecycle.Describe(Status, DeletedFolds.Select(f => f.Fold).ToList());

    /// <summary>Whether <see cref="Mean"/> is final: every fold has its run and every one succeeded.</summary>
    public bool MeanIsFinal => CrossValidationLifecycle.MeanIsFinal(FoldRuns.Select(f => f.Status).ToList(), DeletedFolds.Select(f => f.Fold).ToList());
}

/// <summary>One row of the runs list: a cross-validation and its derived status.</summary>
public sealed record CrossValidationListItem(int Id, string Name, string SourceSplit, int Folds, RunStatus Status, int Succeeded, DateTimeOffset CreatedAt,
    double? MeanAccuracy, double? MeanMacroF1)
{
    /// <summary>The folds whose run was deleted.</summary>
    public IReadOnlyList<int> DeletedFolds { get; init; } = [];

    public string StatusText => CrossValidationLifecycle.Describe(Status, DeletedFolds);

    public bool MeanIsFinal { get; init; }
}

/// <summary>
/// Group k-fold cross-validation as K ordinary runs: the images of a split's train and validation parts are dealt into K
/// folds of whole source groups (<see cref="GroupFolds"/>); fold i tests, fold i+1 validates, the rest train. Each fold is
/// stored as an immutable split of its own (so split pages, honesty and evaluations work unchanged) and trained as a queued
/// run, so each is resumable and evaluated like any run. The source split's test part is never used: it stays the final hold-out.
/// </summary>
public sealed class CrossValidationService(IDbContextFactory<WbcDbContext> contexts, TrainingRunService runs, TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    /// <summary>Makes the K fold splits and K queued runs (one transaction) and returns the record; nothing is trained here.</summary>
    /// <param name="seed">Draws the folds; null: the configuration's seed.</param>
    [Demands(PortalAction.Train)]
    public async Task<CrossValidation> CreateAsync(string sourceSplit, int folds, TrainingConfig config, int? seed = null, string? name = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        config.Validate();
        runs.CheckDevice(config);
        int foldSeed = seed ?? config.Seed;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var split = await db.Splits.AsNoTracking().Include(s => s.Dataset)
                        .SingleOrDefaultAsync(s => s.Name == sourceSplit || s.Id.ToString() == sourceSplit, cancellationToken)
                    ?? throw new ArgumentException($"No split '{sourceSplit}'.");
        if (split.Dataset?.GroupedAt is null)
        {
            throw new ArgumentException($"Dataset '{split.Dataset?.Name}' has no source groups yet: folds must keep each original whole. " +
                                        "Find them first (groups DATASET, or the dataset page), then cross-validate.");
        }
        var members = await (from m in db.SplitMembers.AsNoTracking()
                             join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                             where m.SplitId == split.Id && (m.Part == SplitPart.Train || m.Part == SplitPart.Validation)
                             select new { i.Id, i.ClassName, i.SourceGroup, i.FolderPart }).ToListAsync(cancellationToken);
        if (members.Count == 0) throw new ArgumentException($"Split '{split.Name}' has no train or validation images to cross-validate.");
        // Groups the split joined to keep the leak check's suspect pairs together stay joined in every fold.
        var sourceReport = Splits.SplitReports.Read(split.ReportJson);
        IReadOnlyList<SplitItem> items = members.Select(m => new SplitItem(m.Id, m.ClassName, m.SourceGroup ?? -m.Id, m.FolderPart)).ToList();
        if (sourceReport?.SuspectsKeptTogether is { } kept) items = kept.Apply(items);
        var assignment = GroupFolds.Assign(items, folds, foldSeed);
        var ids = items.Select(i => i.Id).ToHashSet();
        var pairs = (await db.NearDuplicateEdges.AsNoTracking().Where(e => e.DatasetId == split.DatasetId)
                .Select(e => new { e.ImageA, e.ImageB }).ToListAsync(cancellationToken))
            .Where(e => ids.Contains(e.ImageA) && ids.Contains(e.ImageB)).Select(e => (e.ImageA, e.ImageB)).ToList();

        string cvName = name?.Trim() is { Length: > 0 } given ? given : await DefaultNameAsync(db, $"{split.Name}-cv{folds}-s{foldSeed}", cancellationToken);
        if (cvName.Length > 180) throw new ArgumentException("A cross-validation name has at most 180 characters.");
        if (await db.CrossValidations.AnyAsync(c => c.Name == cvName, cancellationToken)) throw new ArgumentException($"A cross-validation named '{cvName}' exists already.");
        var foldNames = Enumerable.Range(1, folds).Select(i => $"{cvName}-fold{i}").ToList();
        if (await db.Splits.Where(s => foldNames.Contains(s.Name)).Select(s => s.Name).FirstOrDefaultAsync(cancellationToken) is { } takenSplit)
            throw new ArgumentException($"A split named '{takenSplit}' exists already; name the cross-validation differently.");
        if (await db.Runs.Where(r => foldNames.Contains(r.Name)).Select(r => r.Name).FirstOrDefaultAsync(cancellationToken) is { } takenRun)
            throw new ArgumentException($"A run named '{takenRun}' exists already; name the cross-validation differently.");

        var now = clock.GetUtcNow();
        var ratios = GroupFolds.Ratios(folds);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var cv = new CrossValidation { Name = cvName, SourceSplitId = split.Id, Folds = folds, Seed = foldSeed, ConfigJson = config.ToJson(), CreatedAt = now };
        db.CrossValidations.Add(cv);
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        for (int f = 0; f < folds; f++)
        {
            var parts = GroupFolds.PartsOf(assignment, f, folds);
            var report = DatasetSplitter.Describe(items, parts, ratios, foldSeed, pairs, grouped: true) with
            {
                Note = $"fold {f + 1} of {folds} of {split.Name} (cross-validation {cvName}): fold {f + 1} tests, fold {(f + 1) % folds + 1} validates, the others train; {split.Name}'s test part is not used",
            };
            var foldSplit = new Split
            {
                DatasetId = split.DatasetId,
                Name = foldNames[f],
                Strategy = SplitStrategy.Grouped,
                Ratios = ratios.ToString(),
                Seed = foldSeed,
                CreatedAt = now,
                ReportJson = Splits.SplitReports.Write(report),
                Members = parts.Select(p => new SplitMember { DatasetImageId = p.Key, Part = SplitParts.Parse(p.Value) }).ToList(),
            };
            db.Splits.Add(foldSplit);
            var run = TrainingRunService.NewRun(foldNames[f], foldSplit, config, now);
            run.CrossValidation = cv;
            run.Fold = f + 1;
            db.Runs.Add(run);
        }
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        foreach (var run in db.ChangeTracker.Entries<Run>().Select(e => e.Entity)) run.CheckpointDirectory = TrainingRunService.CheckpointDirectoryOf(run.Id);
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.CrossValidationStarted, $"split '{sourceSplit}'", $"{folds} folds", cancellationToken: CancellationToken.None);
        return cv;
    }

    private static async Task<string> DefaultNameAsync(WbcDbContext db, string baseName, CancellationToken cancellationToken)
    {
        string name = baseName;
        for (int n = 2; await db.CrossValidations.AnyAsync(c => c.Name == name, cancellationToken); n++) name = $"{baseName}-{n}";
        return name;
    }

    /// <summary>The cross-validation named (id or name), or the one whose fold run is named.</summary>
    public async Task<int?> FindAsync(string cvOrRun, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.CrossValidations.Where(c => c.Name == cvOrRun).Select(c => (int?)c.Id).SingleOrDefaultAsync(cancellationToken)
               ?? await db.Runs.Where(r => (r.Name == cvOrRun || r.Id.ToString() == cvOrRun) && r.CrossValidationId != null)
                   .Select(r => r.CrossValidationId).FirstOrDefaultAsync(cancellationToken)
               ?? await db.CrossValidations.Where(c => c.Id.ToString() == cvOrRun).Select(c => (int?)c.Id).SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>Its fold runs in fold order with their status.</summary>
    public async Task<IReadOnlyList<(int Fold, int RunId, RunStatus Status)>> FoldRunsAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Runs.AsNoTracking().Where(r => r.CrossValidationId == id).OrderBy(r => r.Fold)
            .Select(r => new { r.Fold, r.Id, r.Status }).ToListAsync(cancellationToken);
        return rows.Select(r => (r.Fold ?? 0, r.Id, r.Status)).ToList();
    }

    public async Task<IReadOnlyList<CrossValidationListItem>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var ids = await db.CrossValidations.AsNoTracking().OrderByDescending(c => c.Id).Select(c => c.Id).ToListAsync(cancellationToken);
        var list = new List<CrossValidationListItem>(ids.Count);
        foreach (var id in ids)
        {
            var s = await GetAsync(id, cancellationToken);
            list.Add(new CrossValidationListItem(s.Id, s.Name, s.SourceSplit, s.Folds, s.Status, s.FoldRuns.Count(f => f.Status == RunStatus.Succeeded), s.CreatedAt,
                s.Mean.Accuracy, s.Mean.MacroF1)
            {
                DeletedFolds = s.DeletedFolds.Select(f => f.Fold).ToList(),
                MeanIsFinal = s.MeanIsFinal,
            });
        }
        return list;
    }

    /// <summary>The record, its fold runs (status, figures) and the mean and sample standard deviation over the folds that have figures.</summary>
    public async Task<CrossValidationSummary> GetAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var cv = await db.CrossValidations.AsNoTracking().Include(c => c.SourceSplit).SingleOrDefaultAsync(c => c.Id == id, cancellationToken)
                 ?? throw new ArgumentException($"No cross-validation {id}.");
        var foldRuns = await db.Runs.AsNoTracking().Where(r => r.CrossValidationId == id).Include(r => r.Split).OrderBy(r => r.Fold)
            .Select(r => new { r.Id, r.Name, r.Fold, r.Status, r.Error, r.Seconds, r.Device, Split = r.Split!.Name, SplitRow = r.Split }).ToListAsync(cancellationToken);
        var runIds = foldRuns.Select(r => r.Id).ToList();
        var evaluations = await db.RunEvaluations.AsNoTracking()
            .Where(e => runIds.Contains(e.RunId) && e.Stage == TrainingStage.Model && e.Part == SplitPart.Test && e.ReportJson != null)
            .Select(e => new { e.RunId, e.SourceKind, e.SourceName, e.SourcePart, e.ReportJson, Images = e.Predictions.Count }).ToListAsync(cancellationToken);

        IReadOnlyList<string> labels = [];
        var folds = new List<CrossValidationFold>();
        foreach (var r in foldRuns)
        {
            var own = evaluations.FirstOrDefault(e => e.RunId == r.Id && e.SourceKind == EvaluationSourceKind.Split && e.SourceName == r.Split && e.SourcePart == SplitPart.Test);
            FoldFigures? figures = null;
            if (own is not null)
            {
                var report = JsonSerializer.Deserialize<EvaluationReport>(own.ReportJson!, EvaluationService.Json)!;
                labels = report.Labels;
                figures = Figures(report, own.Images);
            }
            folds.Add(new CrossValidationFold(r.Fold ?? 0, r.Id, r.Name, r.Split, r.Status, r.Error, figures) { Honesty = Splits.SplitReports.HonestyOf(r.SplitRow) });
        }
        var (mean, spread) = Statistics(labels, folds.Select(f => f.Figures).OfType<FoldFigures>().ToList());
        var config = TrainingConfig.FromJson(cv.ConfigJson);
        return new CrossValidationSummary(cv.Id, cv.Name, cv.SourceSplit?.Name ?? "", cv.Folds, cv.Seed, config, cv.CreatedAt,
            CrossValidationLifecycle.StatusOf(folds.Select(f => f.Status).ToList()), labels, folds, mean, spread,
            foldRuns.Sum(r => r.Seconds), foldRuns.Select(r => r.Device).FirstOrDefault(d => d is not null))
        {
            DeletedFolds = DeletedFoldsOf(cv, folds.Select(f => f.Fold)),
        };
    }

    /// <summary>The folds of <paramref name="cv"/> without a run, with what its record says of their deletion.</summary>
    public static IReadOnlyList<DeletedFold> DeletedFoldsOf(CrossValidation cv, IEnumerable<int> foldsWithRuns)
    {
        var present = foldsWithRuns.ToHashSet();
        var recorded = ReadDeletedFolds(cv.DeletedFoldsJson).ToDictionary(f => f.Fold);
        return Enumerable.Range(1, cv.Folds).Where(f => !present.Contains(f)).Select(f => recorded.GetValueOrDefault(f) ?? new DeletedFold(f)).ToList();
    }

    public static IReadOnlyList<DeletedFold> ReadDeletedFolds(string? json) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<DeletedFold>>(json, EvaluationService.Json) ?? [];

    public static string WriteDeletedFolds(IEnumerable<DeletedFold> folds) => JsonSerializer.Serialize(folds.OrderBy(f => f.Fold).ToList(), EvaluationService.Json);

    /// <summary>A fold's figures from its model-stage report on its test fold.</summary>
    public static FoldFigures Figures(EvaluationReport report, int images)
    {
        var recall = report.PerClass.ToDictionary(c => c.Label, c => c.Recall);
        int? originals = report.ByOriginal?.Originals;
        // Mistaken lists every original with an error; the ones called most often something else are wrong by majority.
        int? right = report.ByOriginal is { } o ? o.Originals - o.Mistaken.Count(m => m.MostPredicted != m.Label) : null;
        return new FoldFigures(report.Accuracy, report.MacroF1, recall, report.Calibrated.Ece, originals, right, images)
        {
            Coverage = report.Coverage,
            Reliability = report.Calibrated.Bins,
            Temperature = report.Temperature,
        };
    }

    /// <summary>Mean and sample standard deviation (n - 1) of each figure over the folds that have it.</summary>
    public static (FoldStatistic Mean, FoldStatistic Spread) Statistics(IReadOnlyList<string> labels, IReadOnlyList<FoldFigures> figures)
    {
        static double? Mean(IReadOnlyList<double> v) => v.Count == 0 ? null : v.Average();
        static double? Sd(IReadOnlyList<double> v)
        {
            if (v.Count < 2) return null;
            double m = v.Average();
            return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1));
        }
        FoldStatistic Of(Func<IReadOnlyList<double>, double?> f) => new(
            f(figures.Select(x => x.Accuracy).ToList()),
            f(figures.Select(x => x.MacroF1).ToList()),
            labels.Select(l => (l, v: f(figures.Where(x => x.PerClassRecall.ContainsKey(l)).Select(x => x.PerClassRecall[l]).ToList())))
                .Where(x => x.v is not null).ToDictionary(x => x.l, x => x.v!.Value),
            f(figures.Where(x => x.Ece is not null).Select(x => x.Ece!.Value).ToList()),
            f(figures.Where(x => x.OriginalsAccuracy is not null).Select(x => x.OriginalsAccuracy!.Value).ToList()))
        {
            Coverage = f(figures.Where(x => x.Coverage is not null).Select(x => x.Coverage!.AtThreshold.Coverage).ToList()),
            AccuracyDecided = f(figures.Where(x => x.Coverage?.AtThreshold.DecidedAccuracy is not null).Select(x => x.Coverage!.AtThreshold.DecidedAccuracy!.Value).ToList()),
        };
        return (Of(Mean), Of(Sd));
    }
}
