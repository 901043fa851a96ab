using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Splits;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

public sealed record RunListItem(int Id, string Name, string Split, RunStatus Status, WbcPortal.Engine.Compute.ComputeDevice? Device, DateTimeOffset CreatedAt, double Seconds, double? ValAccuracy, double? TestAccuracy)
{
    /// <summary>The cross-validation this run is a fold of: its id, name, this fold (1-based) and its number of folds.</summary>
    public (int Id, string Name, int Fold, int Folds)? CrossValidation { get; init; }

    /// <summary>Whether the run's held-out figures can be trusted (its split's leak status).</summary>
    public SplitHonesty? Honesty { get; init; }

    /// <summary>Originals (source groups) in each part of the run's split; null when the split has no groups per part.</summary>
    public IReadOnlyDictionary<string, int>? OriginalsPerPart { get; init; }

    /// <summary>What people wrote about the run, or null.</summary>
    public string? Notes { get; init; }
}

public sealed record RunDetail(Run Run, string Split, IReadOnlyList<RunEpoch> Epochs, IReadOnlyList<RunEvaluation> Evaluations)
{
    public SplitHonesty Honesty => SplitReports.HonestyOf(Run.Split);

    /// <summary>"train 221 · val 28 · test 28 originals", or null when the split has no groups per part.</summary>
    public string? OriginalsText => SplitReports.OriginalsText(SplitReports.OriginalsPerPart(Run.Split));
}

/// <summary>Read side of runs for the pages.</summary>
public sealed class RunQueries(IDbContextFactory<WbcDbContext> contexts)
{
    public async Task<IReadOnlyList<RunListItem>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var runs = await db.Runs.AsNoTracking().Include(r => r.Split).Include(r => r.Evaluations).Include(r => r.CrossValidation).OrderByDescending(r => r.Id).ToListAsync(cancellationToken);
        var splits = runs.Select(r => r.Split).OfType<Split>().DistinctBy(s => s.Id).ToList();
        var honesty = splits.ToDictionary(s => s.Id, SplitReports.HonestyOf);
        var originals = splits.ToDictionary(s => s.Id, SplitReports.OriginalsPerPart);
        return runs.Select(r =>
        {
            // the latest stage on the run's own parts: the exported model once evaluated (never its evaluations on other data)
            var last = Evaluation.RunReportQueries.Rounds(r.Evaluations.OrderBy(e => e.Id).ToList(), r.Split?.Name).LastOrDefault(x => x.Stage != WbcPortal.Engine.Training.TrainingStages.Name(WbcPortal.Engine.Training.TrainingStage.Untrained));
            return new RunListItem(r.Id, r.Name, r.Split?.Name ?? "", r.Status, r.Device, r.CreatedAt, r.Seconds, last?.ValAccuracy, last?.TestAccuracy)
            {
                CrossValidation = r.CrossValidation is { } cv ? (cv.Id, cv.Name, r.Fold ?? 0, cv.Folds) : null,
                Honesty = honesty.TryGetValue(r.SplitId, out var h) ? h : SplitReports.HonestyOf(null),
                OriginalsPerPart = originals.GetValueOrDefault(r.SplitId),
                Notes = r.Notes,
            };
        }).ToList();
    }

    public async Task<RunDetail?> GetAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Include(r => r.Split).Include(r => r.CrossValidation).SingleOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (run is null) return null;
        var epochs = await db.RunEpochs.AsNoTracking().Where(e => e.RunId == id).OrderBy(e => e.Round).ThenBy(e => e.Epoch).ToListAsync(cancellationToken);
        var evaluations = await db.RunEvaluations.AsNoTracking().Where(e => e.RunId == id).OrderBy(e => e.Id).ToListAsync(cancellationToken);
        return new RunDetail(run, run.Split?.Name ?? "", epochs, evaluations);
    }
}
