using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>
/// Runs that another process changes (a <c>worker</c> node training it, a CLI verb beside a read-only portal) tell this
/// process nothing: their changes are read from the database every <see cref="JobsOptions.PollMilliseconds"/> (status,
/// heartbeat, epochs recorded) and told to <see cref="RunChanges"/>, so the pages of this node follow a run epoch by epoch
/// wherever it trains. (Its batch-by-batch progress stays on the node that trains it.)
/// </summary>
public sealed class RunChangesPoller(IDbContextFactory<WbcDbContext> contexts, RunChanges changes, IOptions<JobsOptions> options, ILogger<RunChangesPoller> logger)
    : BackgroundService
{
    private readonly Dictionary<int, (RunStatus Status, DateTimeOffset? Heartbeat, int Epochs)> seen = [];

    /// <summary>One look: tells each run that changed since the last; returns how many.</summary>
    public async Task<int> PollAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var watched = seen.Keys.ToList();
        var rows = await db.Runs.AsNoTracking()
            .Where(r => RunLifecycle.Active.Contains(r.Status) || watched.Contains(r.Id))
            .Select(r => new { r.Id, r.Status, r.HeartbeatAt, Epochs = db.RunEpochs.Count(e => e.RunId == r.Id) })
            .ToListAsync(cancellationToken);
        int told = 0;
        foreach (var row in rows)
        {
            var now = (row.Status, row.HeartbeatAt, row.Epochs);
            bool changed = !seen.TryGetValue(row.Id, out var before) || before != now;
            if (RunLifecycle.IsActive(row.Status)) seen[row.Id] = now;
            else seen.Remove(row.Id);
            // The first look only learns what is there; after it, a new run, a change and an end are told.
            if (!changed || first) continue;
            changes.Notify(row.Id);
            told++;
        }
        // A run deleted meanwhile is no longer watched.
        foreach (var gone in watched.Except(rows.Select(r => r.Id))) seen.Remove(gone);
        first = false;
        return told;
    }

    private bool first = true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = TimeSpan.FromMilliseconds(Math.Max(50, options.Value.PollMilliseconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PollAsync(stoppingToken);
                await Task.Delay(every, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogDebug(ex, "Reading runs changed elsewhere failed; trying again");
                await Task.Delay(every, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }
}
