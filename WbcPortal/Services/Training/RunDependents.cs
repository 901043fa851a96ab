using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>A registered model that depends on a run: exported from it, or averaging its cross-validation's fold models.</summary>
public sealed record DependentModel(int Id, string Name, bool Active);

/// <summary>The cross-validation a run is a fold of, and the folds of it already deleted.</summary>
public sealed record FoldOfCrossValidation(int Id, string Name, int Fold, int Folds, IReadOnlyList<int> AlreadyDeleted);

/// <summary>
/// What depends on a run, so that deleting it never makes anything vanish silently: its cross-validation (and which fold),
/// the models exported from it (one may be the active model), ensemble models made from its cross-validation, review
/// decisions taken on its evaluations and the dataset versions made with them, and label-issue searches that used its
/// cross-validation's out-of-fold predictions. <see cref="Refusal"/> says why it may not go at all; <see cref="Consequences"/>
/// what happens to each dependent when it goes. One answer for the Storage page, the runs list, the run page and the CLI.
/// </summary>
public sealed record RunDependencies(int RunId, string RunName, RunStatus Status, FoldOfCrossValidation? CrossValidation,
    IReadOnlyList<DependentModel> Models, IReadOnlyList<DependentModel> Ensembles, int ReviewDecisions, IReadOnlyList<string> DatasetVersions,
    IReadOnlyList<int> LabelIssueSearches, int Files, long Bytes)
{
    /// <summary>Why it cannot be deleted (its status, or the active model exported from it), or null (<see cref="RunLifecycle.DeletionRefusal"/>).</summary>
    public string? Refusal => RunLifecycle.DeletionRefusal(Status, RunName, Models.FirstOrDefault(m => m.Active)?.Name);

    /// <summary>The sentence a person confirms before a fold of a cross-validation is deleted, or null for a plain run.</summary>
    public string? ConfirmationNeeded => CrossValidation is { } cv ? RunLifecycle.FoldDeletionWarning(RunName, cv.Fold, cv.Folds, cv.Name) : null;

    /// <summary>What deleting it does to each dependent, one sentence each (the confirmation above comes first when there is one).</summary>
    public IReadOnlyList<string> Consequences
    {
        get
        {
            var lines = new List<string>();
            if (ConfirmationNeeded is { } confirm) lines.Add(confirm);
            foreach (var model in Models.Where(m => !m.Active)) lines.Add($"Model '{model.Name}', exported from it, is deleted with it.");
            foreach (var model in Ensembles)
            {
                lines.Add($"Model '{model.Name}'{(model.Active ? " (the active model)" : "")} averages the fold models of '{CrossValidation!.Name}': it stays and keeps working (its file holds its own copy of each fold model).");
            }
            if (ReviewDecisions > 0)
            {
                lines.Add($"{Count(ReviewDecisions, "review decision")} taken on its evaluations stay{(ReviewDecisions == 1 ? "s" : "")} in force" +
                          (DatasetVersions.Count > 0 ? $", as do the dataset version{(DatasetVersions.Count == 1 ? "" : "s")} made with them ({string.Join(", ", DatasetVersions.Select(v => $"'{v}'"))})" : "") +
                          "; they no longer link to the run.");
            }
            if (LabelIssueSearches.Count > 0)
            {
                lines.Add($"{Count(LabelIssueSearches.Count, "label-issue search")} ({string.Join(", ", LabelIssueSearches.Select(i => $"#{i}"))}) used the out-of-fold predictions of '{CrossValidation!.Name}': {(LabelIssueSearches.Count == 1 ? "its" : "their")} stored results stay; a new search of '{CrossValidation.Name}' is refused.");
            }
            return lines;
        }
    }

    private static string Count(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n:N0} {noun}s";
}

/// <summary>Computes <see cref="RunDependencies"/>: read-only, from the database and the run's folder.</summary>
public sealed class RunDependents(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage)
{
    /// <summary>The run named (id or name) and what depends on it.</summary>
    public async Task<RunDependencies> OfAsync(string idOrName, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await FindAsync(db, idOrName, cancellationToken) ?? throw new ArgumentException($"No run '{idOrName}'.");
        return await OfAsync(db, run, cancellationToken);
    }

    /// <summary>What depends on each of the runs, in the order given (unknown ids are left out).</summary>
    public async Task<IReadOnlyList<RunDependencies>> OfAsync(IEnumerable<int> runIds, CancellationToken cancellationToken = default)
    {
        var ids = runIds.ToList();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var runs = await db.Runs.AsNoTracking().Where(r => ids.Contains(r.Id)).ToDictionaryAsync(r => r.Id, cancellationToken);
        var list = new List<RunDependencies>(ids.Count);
        foreach (var id in ids)
        {
            if (runs.TryGetValue(id, out var run)) list.Add(await OfAsync(db, run, cancellationToken));
        }
        return list;
    }

    internal static async Task<Run?> FindAsync(WbcDbContext db, string idOrName, CancellationToken cancellationToken) =>
        int.TryParse(idOrName, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id || r.Name == idOrName, cancellationToken)
            : await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Name == idOrName, cancellationToken);

    /// <summary>The models exported from a run: under its folder, or at its model path (the rule deletion follows).</summary>
    internal static IQueryable<RegisteredModel> ModelsOf(WbcDbContext db, Run run)
    {
        string prefix = RunFolderPrefix(run.Id);
        string altPrefix = prefix.Replace('\\', '/');
        return db.Models.Where(m => m.OnnxPath.StartsWith(prefix) || m.OnnxPath.StartsWith(altPrefix) || (run.ModelPath != null && m.OnnxPath == run.ModelPath));
    }

    internal static string RunFolderPrefix(int runId) => WbcPortal.Storage.DataFolderLayout.RunRelative(runId) + Path.DirectorySeparatorChar;

    internal string RunFolder(int runId) => WbcPortal.Storage.DataFolderLayout.RunFolder(storage.DataDirectoryFullPath, runId);

    internal async Task<RunDependencies> OfAsync(WbcDbContext db, Run run, CancellationToken cancellationToken)
    {
        var models = await ModelsOf(db, run).AsNoTracking().OrderBy(m => m.Name).Select(m => new DependentModel(m.Id, m.Name, m.IsActive)).ToListAsync(cancellationToken);

        FoldOfCrossValidation? fold = null;
        List<DependentModel> ensembles = [];
        List<int> searches = [];
        if (run.CrossValidationId is int cvId && await db.CrossValidations.AsNoTracking().Include(c => c.SourceSplit).SingleOrDefaultAsync(c => c.Id == cvId, cancellationToken) is { } cv)
        {
            var present = await db.Runs.AsNoTracking().Where(r => r.CrossValidationId == cvId).Select(r => r.Fold ?? 0).ToListAsync(cancellationToken);
            var deleted = CrossValidationService.DeletedFoldsOf(cv, present).Select(f => f.Fold).ToList();
            fold = new FoldOfCrossValidation(cv.Id, cv.Name, run.Fold ?? 0, cv.Folds, deleted);
            ensembles = await db.Models.AsNoTracking().Where(m => m.CrossValidationId == cvId).OrderBy(m => m.Name)
                .Select(m => new DependentModel(m.Id, m.Name, m.IsActive)).ToListAsync(cancellationToken);
            int datasetId = cv.SourceSplit?.DatasetId ?? 0;
            // Searches stored before they recorded their cross-validation are matched by what they do record.
            searches = await db.LabelIssueRuns.AsNoTracking()
                .Where(l => l.CrossValidationId == cvId
                            || (l.CrossValidationId == null && l.Mode == Review.LabelIssueService.CrossValidationMode && l.DatasetId == datasetId && l.Folds == cv.Folds && l.Seed == cv.Seed))
                .OrderBy(l => l.Id).Select(l => l.Id).ToListAsync(cancellationToken);
        }

        var decisions = await db.ReviewDecisions.AsNoTracking().Where(d => d.RunId == run.Id).Select(d => new { d.Id, d.DatasetId }).ToListAsync(cancellationToken);
        var versions = new List<string>();
        if (decisions.Count > 0)
        {
            var ids = decisions.Select(d => d.Id).ToHashSet();
            var parents = decisions.Select(d => d.DatasetId).Distinct().ToList();
            var children = await db.Datasets.AsNoTracking().Where(d => d.ParentDatasetId != null && parents.Contains(d.ParentDatasetId.Value) && d.ChangesJson != null)
                .OrderBy(d => d.Id).Select(d => new { d.Name, d.ChangesJson }).ToListAsync(cancellationToken);
            versions.AddRange(children.Where(c => UsesAny(c.ChangesJson!, ids)).Select(c => c.Name));
        }

        string folder = RunFolder(run.Id);
        var files = Directory.Exists(folder) ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories) : [];
        return new RunDependencies(run.Id, run.Name, run.Status, fold, models, ensembles, decisions.Count, versions, searches, files.Length, FolderBytes(run.Id));
    }

    /// <summary>The bytes of a run's folder: what deleting it frees, and what its page shows.</summary>
    public long FolderBytes(int runId)
    {
        string folder = RunFolder(runId);
        return Directory.Exists(folder) ? UploadStaging.DirectorySize(folder) : 0;
    }

    private static bool UsesAny(string changesJson, HashSet<long> decisionIds)
    {
        try
        {
            var rows = JsonSerializer.Deserialize<List<DatasetVersionChangeRow>>(changesJson) ?? [];
            return rows.Any(r => decisionIds.Contains(r.DecisionId));
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
