using Hangfire;
using Microsoft.Extensions.Options;
using WbcPortal.Services.Training;

namespace WbcPortal.Services.Jobs;

/// <summary>
/// Work a dead process left behind, on any node: jobs Running and runs Training whose process is gone (same host: its pid is
/// gone; another host: no heartbeat for the timeout). With <see cref="JobsOptions.TakeOver"/> they are queued again and the
/// nodes working on their queue take them over (a run resumes from its last checkpoint, so no epoch runs twice); otherwise
/// a job ends Failed and a run Interrupted, with the reason. Runs on every node that writes, once at start and then every
/// <see cref="JobsOptions.TakeOverCheckMilliseconds"/>; each orphan is settled by one node only (conditional writes).
/// </summary>
public sealed class OrphanedWork(PortalJobs jobs, RunStore runs, IBackgroundJobClient queue, IOptions<JobsOptions> options, ILogger<OrphanedWork> logger) : BackgroundService
{
    /// <summary>One pass; returns how many jobs and runs were queued again.</summary>
    public async Task<int> SettleAsync(CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        int taken = await jobs.SettleOrphansAsync(cancellationToken);
        foreach (int runId in await runs.SettleOrphansAsync(o.TakeOver, o.MaxAttempts, cancellationToken))
        {
            queue.Enqueue<RunJobs>(j => j.ExecuteAsync(runId, CancellationToken.None));
            taken++;
        }
        return taken;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = TimeSpan.FromMilliseconds(options.Value.TakeOverCheckMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, stoppingToken);
                await SettleAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A database that is away for a moment must not end the sweeps for good.
                logger.LogWarning(ex, "Looking for work left by a stopped process failed; trying again");
            }
        }
    }
}
