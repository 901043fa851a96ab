using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>
/// A run's record as the queue and the processes share it: the claim, the lease and its heartbeat, a dead lease turned
/// Interrupted, Resume (requeue) and Stop, and the end a process writes. Every status it writes goes through
/// <see cref="RunLifecycle"/>; what a run does while it trains is <see cref="TrainingRunService"/>'s.
/// </summary>
public sealed class RunStore(
    IDbContextFactory<WbcDbContext> contexts,
    StorageOptions storage,
    TimeProvider clock,
    RunChanges changes,
    ILogger<RunStore> logger,
    AccessControl access,
    AuditLog audit)
{
    /// <summary>A Running run that has not reported for this long belongs to a process that is gone.</summary>
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Marks every run left Running by a process that is gone as Interrupted, with the reason. Call at start-up (the
    /// portal, <c>train</c>, <c>resume</c>): with the data folder's lock held, a run leased by another process is dead.
    /// </summary>
    public async Task<int> MarkInterruptedAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var running = await db.Runs.AsNoTracking().Where(r => r.Status == RunStatus.Running)
            .Select(r => new { r.Id, r.LeaseOwner, r.HeartbeatAt }).ToListAsync(cancellationToken);
        int marked = 0;
        foreach (var run in running)
        {
            if (DeadLeaseReason(run.LeaseOwner, run.HeartbeatAt) is { } reason) marked += await MarkInterruptedAsync(db, run.Id, run.LeaseOwner, reason, cancellationToken);
        }
        return marked;
    }

    /// <summary>
    /// Runs left Running by a process that is gone, on any node: with <paramref name="takeOver"/>, back to the queue (they
    /// resume from their last checkpoint) unless they have been started <paramref name="maxAttempts"/> times or a Stop was
    /// asked for; Interrupted, with the reason, otherwise. Each is settled by one node only (the lease seen is the lease
    /// replaced). Returns the runs queued again, for the caller to give each a job.
    /// </summary>
    public async Task<IReadOnlyList<int>> SettleOrphansAsync(bool takeOver, int maxAttempts, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var running = await db.Runs.AsNoTracking().Where(r => r.Status == RunStatus.Running)
            .Select(r => new { r.Id, r.LeaseOwner, r.HeartbeatAt, r.TakeOvers, r.StopRequestedAt }).ToListAsync(cancellationToken);
        var queued = new List<int>();
        foreach (var run in running)
        {
            if (DeadLeaseReason(run.LeaseOwner, run.HeartbeatAt) is not { } reason) continue;
            if (!takeOver || run.StopRequestedAt is not null)
            {
                await MarkInterruptedAsync(db, run.Id, run.LeaseOwner, reason, cancellationToken);
                continue;
            }
            if (run.TakeOvers + 1 >= maxAttempts)
            {
                await MarkInterruptedAsync(db, run.Id, run.LeaseOwner,
                    $"{reason} (its process died {run.TakeOvers + 1} times while training it: it is not taken over again, Jobs:MaxAttempts)", cancellationToken);
                continue;
            }
            var from = RunLifecycle.From(RunTransition.TakeOver);
            int changed = await db.Runs.Where(r => r.Id == run.Id && from.Contains(r.Status) && r.LeaseOwner == run.LeaseOwner)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.TakeOver))
                    .SetProperty(r => r.LeaseOwner, (string?)null)
                    .SetProperty(r => r.TakeOvers, r => r.TakeOvers + 1)
                    .SetProperty(r => r.Error, (string?)null), cancellationToken);
            if (changed == 0) continue;
            logger.LogWarning("Run {Run} was left Running by a process that is gone ({Owner}); queued again to resume from its checkpoint", run.Id, run.LeaseOwner);
            Notify(run.Id);
            queued.Add(run.Id);
        }
        return queued;
    }

    /// <summary>
    /// The same check for one run, when a page or the CLI asks about it: a Running run whose process is gone becomes
    /// Interrupted at once (resumable), without waiting for its heartbeat to go stale. True when it was marked.
    /// </summary>
    public async Task<bool> CheckLeaseAsync(int runId, CancellationToken cancellationToken = default)
    {
        if (storage.ReadOnly) return false; // a read-only portal changes no run; the folder's holder settles its leases
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId && r.Status == RunStatus.Running)
            .Select(r => new { r.LeaseOwner, r.HeartbeatAt }).SingleOrDefaultAsync(cancellationToken);
        if (run is null || DeadLeaseReason(run.LeaseOwner, run.HeartbeatAt) is not { } reason) return false;
        return await MarkInterruptedAsync(db, runId, run.LeaseOwner, reason, cancellationToken) > 0;
    }

    private async Task<int> MarkInterruptedAsync(WbcDbContext db, int runId, string? leaseOwner, string reason, CancellationToken cancellationToken)
    {
        // Only if nobody claimed it meanwhile: the lease seen is the lease replaced.
        var running = RunLifecycle.From(RunTransition.Interrupt);
        int changed = await db.Runs.Where(r => r.Id == runId && running.Contains(r.Status) && r.LeaseOwner == leaseOwner)
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.Interrupt))
                .SetProperty(r => r.Error, reason)
                .SetProperty(r => r.LeaseOwner, (string?)null)
                // Its last sign of life, not the moment its death was noticed.
                .SetProperty(r => r.FinishedAt, r => r.HeartbeatAt ?? clock.GetUtcNow()), cancellationToken);
        if (changed > 0)
        {
            logger.LogWarning("Run {Run} was left Running by a process that is gone; marked Interrupted", runId);
            Notify(runId);
        }
        return changed;
    }

    /// <summary>Null while the lease's owner may still be training the run; otherwise why the run was interrupted.</summary>
    private string? DeadLeaseReason(string? leaseOwner, DateTimeOffset? heartbeat)
    {
        var owner = ProcessIdentity.Parse(leaseOwner);
        if (owner == ProcessIdentity.Current) return null;
        bool stale = heartbeat is null || heartbeat < clock.GetUtcNow() - HeartbeatTimeout;
        // The data folder has one writer at a time (its OS lock): when this process holds it, no other process on
        // this host can be training one of its runs, whatever its heartbeat says.
        bool dead = owner is null
            ? stale || HoldsDataFolder()
            : owner.Host != ProcessIdentity.Current.Host ? stale : !owner.IsAlive() || HoldsDataFolder();
        if (!dead) return null;
        return owner is null
            ? "the process that was training this run stopped before it finished; resume it"
            : $"the process that was training this run (pid {owner.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)}) stopped before it finished; resume it";
    }

    private bool HoldsDataFolder() => DataFolderLock.IsHeldByThisProcess(storage.DataDirectoryFullPath);

    /// <summary>
    /// Puts a stopped, failed or interrupted run back in the queue (the page's Resume, through the launcher), first
    /// turning a run whose process died into Interrupted. Throws <see cref="RunNotClaimableException"/> with the reason otherwise.
    /// </summary>
    public async Task RequeueAsync(int runId, CancellationToken cancellationToken = default)
    {
        await CheckLeaseAsync(runId, cancellationToken);
        var resumable = RunLifecycle.StatusesAllowing(RunAction.Resume);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        int changed = await db.Runs.Where(r => r.Id == runId && resumable.Contains(r.Status))
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.Requeue))
                .SetProperty(r => r.Error, (string?)null)
                .SetProperty(r => r.StopRequestedAt, (DateTimeOffset?)null), cancellationToken);
        if (changed == 0) throw await RefusalAsync(db, runId, resumable, RunAction.Resume, cancellationToken);
        Notify(runId);
    }

    /// <summary>
    /// A run its own process interrupted by stopping (not a person's Stop: that leaves it Cancelled) goes back to the queue,
    /// for the next node to resume (<c>Jobs:TakeOver</c>). False when it is not Interrupted.
    /// </summary>
    public async Task<bool> RequeueInterruptedAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var from = RunLifecycle.From(RunTransition.Requeue).Where(s => s == RunStatus.Interrupted).ToArray();
        int changed = await db.Runs.Where(r => r.Id == runId && from.Contains(r.Status) && r.StopRequestedAt == null)
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.Requeue))
                .SetProperty(r => r.Error, (string?)null), cancellationToken);
        if (changed > 0) Notify(runId);
        return changed > 0;
    }

    /// <summary>
    /// Stop from any process sharing the data folder: a queued run is Cancelled at once; a running one gets
    /// <see cref="Run.StopRequestedAt"/>, which the process executing it reads within <see cref="StopPollInterval"/>.
    /// Returns the status the run had; throws <see cref="RunNotClaimableException"/> when it is neither.
    /// </summary>
    [Demands(PortalAction.Train)]
    public async Task<RunStatus> RequestStopAsync(int runId, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        await CheckLeaseAsync(runId, cancellationToken);
        var now = clock.GetUtcNow();
        // A Stop is a signal to whichever process trains the run, so a read-only portal may send it too (its own
        // connection is read-only): the one write such a portal makes.
        await using var db = storage.ReadOnly
            ? WbcDbContextFactory.Create(storage.Provider, storage.WritableConnectionString)()
            : await contexts.CreateDbContextAsync(cancellationToken);
        var queued = RunLifecycle.From(RunTransition.CancelQueued);
        if (await db.Runs.Where(r => r.Id == runId && queued.Contains(r.Status))
                .ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.CancelQueued))
                    .SetProperty(r => r.StopRequestedAt, now)
                    .SetProperty(r => r.FinishedAt, now), cancellationToken) > 0)
        {
            Notify(runId);
            await audit.RecordAsync(AuditAction.RunStopped, $"run {runId}", "while queued", cancellationToken: CancellationToken.None);
            return RunStatus.Queued;
        }
        if (await db.Runs.Where(r => r.Id == runId && r.Status == RunStatus.Running)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.StopRequestedAt, now), cancellationToken) > 0)
        {
            Notify(runId);
            await audit.RecordAsync(AuditAction.RunStopped, $"run {runId}", null, cancellationToken: CancellationToken.None);
            return RunStatus.Running;
        }
        throw await RefusalAsync(db, runId, RunLifecycle.StatusesAllowing(RunAction.Stop), RunAction.Stop, cancellationToken);
    }

    internal static async Task<Exception> RefusalAsync(WbcDbContext db, int runId, RunStatus[] allowed, RunAction action, CancellationToken cancellationToken)
    {
        var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.Name, r.Status }).SingleOrDefaultAsync(cancellationToken);
        if (run is null) return new ArgumentException($"No run {runId}.");
        return new RunNotClaimableException(RunLifecycle.Refusal(run.Status, allowed, action, run.Name)
            ?? $"Run '{run.Name}' changed while it was being {action.ToString().ToLowerInvariant()}ed; try again.");
    }

    /// <summary>Claims a run for this process: an atomic claim from <paramref name="claimable"/>, or the reason it cannot be.</summary>
    internal async Task ClaimAsync(int runId, RunStatus[] claimable, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = clock.GetUtcNow();
        string lease = ProcessIdentity.Current.ToString();
        // An atomic claim: a run never executes twice at once, whoever starts it (job, resume, CLI).
        int claimed = await db.Runs.Where(r => r.Id == runId && claimable.Contains(r.Status))
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.Claim))
                .SetProperty(r => r.LeaseOwner, lease)
                .SetProperty(r => r.StartedAt, r => r.StartedAt ?? now)
                .SetProperty(r => r.HeartbeatAt, now)
                .SetProperty(r => r.FinishedAt, (DateTimeOffset?)null)
                .SetProperty(r => r.StopRequestedAt, (DateTimeOffset?)null)
                .SetProperty(r => r.Error, (string?)null), cancellationToken);
        if (claimed == 0) throw await RefusalAsync(db, runId, claimable, RunAction.Claim, cancellationToken);
    }

    /// <summary>Ends a run this process holds (Cancelled, Failed, Interrupted; Succeeded goes with its model's registration), retried a few times.</summary>
    internal async Task FinishAsync(int runId, RunStatus status, string? error, double seconds)
    {
        string lease = ProcessIdentity.Current.ToString();
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
                var running = RunLifecycle.From(RunTransition.Finish);
                await db.Runs.Where(r => r.Id == runId && running.Contains(r.Status) && r.LeaseOwner == lease).ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.Finish, status))
                    .SetProperty(r => r.Error, error)
                    .SetProperty(r => r.LeaseOwner, (string?)null)
                    .SetProperty(r => r.Seconds, r => r.Seconds + seconds)
                    .SetProperty(r => r.FinishedAt, clock.GetUtcNow()), CancellationToken.None);
                break;
            }
            catch (Exception ex) when (attempt < 5)
            {
                logger.LogWarning(ex, "Run {Run}: recording {Status} failed, trying again", runId, status);
                await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), CancellationToken.None);
            }
        }
    }

    /// <summary>The executing process's sign of life, for a lease owner on another host (which cannot be checked).</summary>
    internal Task WriteHeartbeatAsync(WbcDbContext db, int runId) =>
        db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.HeartbeatAt, clock.GetUtcNow()));

    private void Notify(int runId) => changes.Notify(runId);
}
