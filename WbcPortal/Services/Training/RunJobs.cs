using WbcPortal.Services.Accounts;
using System.Collections.Concurrent;
using Hangfire;
using WbcPortal.Engine.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>The Stop buttons: one cancellation source per run executing in this process.</summary>
public sealed class RunStopRegistry
{
    private readonly ConcurrentDictionary<int, CancellationTokenSource> running = new();
    private readonly ConcurrentDictionary<int, bool> stopped = new();

    public CancellationTokenSource Register(int runId, CancellationToken jobToken)
    {
        stopped.TryRemove(runId, out _);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(jobToken);
        running[runId] = cts;
        return cts;
    }

    public void Unregister(int runId)
    {
        if (running.TryRemove(runId, out var cts)) cts.Dispose();
    }

    /// <summary>True when the run was executing here and has been told to stop.</summary>
    public bool Stop(int runId)
    {
        if (!running.TryGetValue(runId, out var cts)) return false;
        stopped[runId] = true;
        cts.Cancel();
        return true;
    }

    public bool WasStopped(int runId) => stopped.ContainsKey(runId);
}

/// <summary>The Hangfire job that trains a run. One worker per node on the <c>gpu</c> queue: one run per device at a time, others wait queued.</summary>
public sealed class RunJobs(TrainingRunService runs, RunStore store, RunStopRegistry stops, IBackgroundJobClient queue,
    Microsoft.Extensions.Options.IOptions<Jobs.JobsOptions> options, ILogger<RunJobs> logger)
{
    public const string Queue = Jobs.JobKinds.GpuQueue;

    [Queue(Queue)]
    [AutomaticRetry(Attempts = 0)]
    public async Task ExecuteAsync(int runId, CancellationToken cancellationToken)
    {
        using var cts = stops.Register(runId, cancellationToken);
        try
        {
            await runs.ExecuteAsync(runId, () => stops.WasStopped(runId), cts.Token);
        }
        catch (RunNotClaimableException ex)
        {
            // A job left over for a run that was stopped while queued, resumed elsewhere or already finished: nothing to do.
            logger.LogInformation("Run {Run} not started by its job: {Reason}", runId, ex.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !stops.WasStopped(runId) && options.Value.TakeOver)
        {
            // This process stops (a restart, a worker taken down) with take-over on: the run, recorded Interrupted, goes back
            // to the queue at once and the next node on the gpu queue resumes it from its checkpoint. (A Stop asked meanwhile
            // left it Cancelled, which the requeue refuses.)
            if (await store.RequeueInterruptedAsync(runId, CancellationToken.None))
            {
                queue.Enqueue<RunJobs>(j => j.ExecuteAsync(runId, CancellationToken.None));
                logger.LogInformation("Run {Run} handed back to the queue: this process stops", runId);
            }
            else logger.LogInformation("Run {Run} stopped (a Stop was asked): it stays as it is", runId);
        }
        catch (OperationCanceledException)
        {
            // Recorded on the run (Cancelled: a Stop here or from another process; Interrupted: shutdown). The job ends
            // quietly rather than going back to Hangfire's queue: an interrupted run waits for its Resume.
            logger.LogInformation("Run {Run} stopped", runId);
        }
        finally
        {
            stops.Unregister(runId);
        }
    }
}

/// <summary>What a Stop did: the message the page shows.</summary>
public sealed record StopResult(bool Stopped, string Message);

/// <summary>What the pages call: start, resume and stop runs (and cross-validations, run by run) through the job queue.</summary>
public sealed class TrainingLauncher(TrainingRunService runs, RunStore store, CrossValidationService crossValidations, IBackgroundJobClient jobs, RunStopRegistry stops, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    /// <summary>Makes the fold splits and queued fold runs and queues one job a fold: the one training worker takes them in turn.</summary>
    [Demands(PortalAction.Train)]
    public async Task<int> StartCrossValidationAsync(string split, int folds, TrainingConfig config, string? name, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        var cv = await crossValidations.CreateAsync(split, folds, config, name: name, cancellationToken: cancellationToken);
        foreach (var (_, runId, _) in await crossValidations.FoldRunsAsync(cv.Id, cancellationToken))
        {
            jobs.Enqueue<RunJobs>(j => j.ExecuteAsync(runId, CancellationToken.None));
        }
        return cv.Id;
    }

    /// <summary>
    /// Puts every unfinished fold back in the queue: stopped, failed and interrupted ones through Resume, queued ones get a
    /// job again (a fold already taken finds nothing to do: the claim is atomic). Succeeded folds stay as they are.
    /// </summary>
    [Demands(PortalAction.Train)]
    public async Task<int> ResumeCrossValidationAsync(int id, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        int queued = 0;
        foreach (var (_, runId, status) in await crossValidations.FoldRunsAsync(id, cancellationToken))
        {
            await store.CheckLeaseAsync(runId, cancellationToken);
            if (RunLifecycle.Allows(status, RunAction.Resume) || status == RunStatus.Running)
            {
                try { await store.RequeueAsync(runId, cancellationToken); }
                catch (RunNotClaimableException) { continue; } // still training: it goes on by itself
            }
            else if (status != RunStatus.Queued) continue;
            jobs.Enqueue<RunJobs>(j => j.ExecuteAsync(runId, CancellationToken.None));
            queued++;
        }
        await audit.RecordAsync(AuditAction.CrossValidationResumed, $"cross-validation {id}", null, cancellationToken: CancellationToken.None);
        return queued;
    }

    /// <summary>Stops every fold: the waiting ones first (so the worker takes none of them next), then the one training.</summary>
    [Demands(PortalAction.Train)]
    public async Task<StopResult> StopCrossValidationAsync(int id, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        var folds = await crossValidations.FoldRunsAsync(id, cancellationToken);
        int stopped = 0;
        foreach (var (_, runId, _) in folds.OrderBy(f => f.Status == RunStatus.Running ? 1 : 0))
        {
            if ((await StopAsync(runId, cancellationToken)).Stopped) stopped++;
        }
        await audit.RecordAsync(AuditAction.CrossValidationStopped, $"cross-validation {id}", null, cancellationToken: CancellationToken.None);
        return stopped == 0
            ? new StopResult(false, "No fold is queued or training.")
            : new StopResult(true, $"Stopping {stopped} fold run(s); a fold that is training stops after its current batch.");
    }

    [Demands(PortalAction.Train)]
    public async Task<int> StartAsync(string split, TrainingConfig config, string? name, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        var run = await runs.CreateAsync(split, config, name, cancellationToken);
        jobs.Enqueue<RunJobs>(j => j.ExecuteAsync(run.Id, CancellationToken.None));
        return run.Id;
    }

    /// <summary>Queues a stopped, failed or interrupted run again; throws <see cref="RunNotClaimableException"/> with the reason otherwise.</summary>
    [Demands(PortalAction.Train)]
    public async Task ResumeAsync(int runId, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        await store.RequeueAsync(runId, cancellationToken);
        jobs.Enqueue<RunJobs>(j => j.ExecuteAsync(runId, CancellationToken.None));
        await audit.RecordAsync(AuditAction.RunResumed, $"run {runId}", null, cancellationToken: CancellationToken.None);
    }

    /// <summary>
    /// Stops a run whichever process executes it: recorded on the run (that process polls it), and cancelled at once when
    /// it executes here. A queued run is Cancelled at once.
    /// </summary>
    [Demands(PortalAction.Train)]
    public async Task<StopResult> StopAsync(int runId, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        try
        {
            var was = await store.RequestStopAsync(runId, cancellationToken);
            if (was == RunStatus.Queued) return new StopResult(true, "Cancelled before it started.");
            stops.Stop(runId);
            return new StopResult(true, "Stopping after the current batch…");
        }
        catch (RunNotClaimableException ex)
        {
            return new StopResult(false, ex.Message);
        }
    }
}
