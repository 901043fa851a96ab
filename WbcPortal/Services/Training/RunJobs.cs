using System.Collections.Concurrent;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Training;
using WbcPortal.Storage;
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

/// <summary>The Hangfire job that trains a run. One worker on the "training" queue: one run per device at a time, others wait queued.</summary>
public sealed class RunJobs(TrainingRunService runs, RunStopRegistry stops, ILogger<RunJobs> logger)
{
    public const string Queue = "training";

    [Queue(Queue)]
    [AutomaticRetry(Attempts = 0)]
    public async Task ExecuteAsync(int runId, CancellationToken cancellationToken)
    {
        using var cts = stops.Register(runId, cancellationToken);
        try
        {
            await runs.ExecuteAsync(runId, () => stops.WasStopped(runId), cts.Token);
        }
        catch (OperationCanceledException) when (stops.WasStopped(runId))
        {
            logger.LogInformation("Run {Run} stopped by a user", runId);
        }
        finally
        {
            stops.Unregister(runId);
        }
    }
}

/// <summary>What the pages call: start, resume and stop runs through the job queue.</summary>
public sealed class TrainingLauncher(TrainingRunService runs, IBackgroundJobClient jobs, RunStopRegistry stops, IDbContextFactory<WbcDbContext> contexts)
{
    public async Task<int> StartAsync(string split, TrainingConfig config, string? name, CancellationToken cancellationToken = default)
    {
        var run = await runs.CreateAsync(split, config, name, cancellationToken);
        jobs.Enqueue<RunJobs>(j => j.ExecuteAsync(run.Id, CancellationToken.None));
        return run.Id;
    }

    public async Task ResumeAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        int changed = await db.Runs.Where(r => r.Id == runId && (r.Status == RunStatus.Cancelled || r.Status == RunStatus.Interrupted || r.Status == RunStatus.Failed))
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RunStatus.Queued).SetProperty(r => r.Error, (string?)null), cancellationToken);
        if (changed == 0) throw new InvalidOperationException("Only stopped, failed or interrupted runs can be resumed.");
        jobs.Enqueue<RunJobs>(j => j.ExecuteAsync(runId, CancellationToken.None));
    }

    public bool Stop(int runId) => stops.Stop(runId);
}
