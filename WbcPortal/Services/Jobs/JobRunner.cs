using System.Text.Json;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Jobs;

/// <summary>
/// The one Hangfire job behind every <see cref="JobKind"/>: claims the stored job (exactly once, whichever node takes
/// it), runs its handler as the one who queued it, reports progress (in memory at once, to the database throttled, with
/// a final flush), honours a Cancel from any node, records a failure with its reason for people, and gives the job's
/// staged upload back however it ends.
/// </summary>
public sealed class JobRunner(
    JobDatabase contexts,
    PortalJobs jobs,
    ActorContext actors,
    TimeProvider clock,
    Microsoft.Extensions.Options.IOptions<JobsOptions> options,
    ILogger<JobRunner> logger)
{
    private const string HandedBack = "queued again: the process running it stopped; the next node takes it";

    /// <param name="title">What the job is, for Hangfire's dashboard only ("import: zip cells.zip (cells)"); the stored job is authoritative.</param>
    [AutomaticRetry(Attempts = 0)]
    [JobDisplayName("{1}")]
    public async Task RunAsync(Guid jobId, string title, CancellationToken stopping)
    {
        var node = ProcessIdentity.Current.ToString();
        var started = clock.GetUtcNow();
        JobRecord record;
        await using (var db = await contexts.CreateDbContextAsync(CancellationToken.None))
        {
            if (await db.Jobs.Where(j => j.Id == jobId && j.State == JobState.Queued).ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.State, JobState.Running).SetProperty(j => j.Node, node).SetProperty(j => j.StartedAt, started)
                    .SetProperty(j => j.Attempts, j => j.Attempts + 1)
                    .SetProperty(j => j.ProgressText, "started").SetProperty(j => j.UpdatedAt, started), CancellationToken.None) == 0)
            {
                // Cancelled while queued, already run, or gone: nothing to do.
                logger.LogInformation("Job {Job} not started: it is no longer queued", jobId);
                return;
            }
            record = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == jobId, CancellationToken.None);
        }
        using var cancel = jobs.Running(jobId, stopping);
        var view = PortalJobs.ToView(record, null, jobs.ReadRequest(record));
        jobs.Publish(view);
        var gate = new object();
        JobProgress progress = view.Progress;
        long lastNotified = 0;
        bool trailing = false, ended_ = false;
        // Throttled to one notice a quarter second, with a trailing one: the last step reported before a long wait (a model
        // calibrating after "averaging") shows within that time, not only at the next step. Never after the job's end.
        void PublishLatest()
        {
            JobProgress latest;
            lock (gate)
            {
                trailing = false;
                if (ended_) return;
                latest = progress;
                lastNotified = Environment.TickCount64;
            }
            jobs.Publish(view with { Progress = latest });
        }
        var reporter = new InlineProgress<JobProgress>(p =>
        {
            bool now_;
            lock (gate)
            {
                progress = p;
                if (ended_) return;
                now_ = Environment.TickCount64 - lastNotified > 250 || p.Fraction >= 1;
                if (!now_)
                {
                    if (trailing) return;
                    trailing = true;
                }
            }
            if (now_) PublishLatest();
            else _ = Task.Delay(260, CancellationToken.None).ContinueWith(_ => PublishLatest(), TaskScheduler.Default);
        });
        using var heartbeatStop = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(jobId, () => { lock (gate) return progress; }, cancel, heartbeatStop.Token);

        JobState ended;
        bool handBack = false;
        object? result = null;
        string? error = null;
        try
        {
            var handler = jobs.Handler(record.Kind);
            var request = view.Request ?? (JobRequest)(JsonSerializer.Deserialize(record.RequestJson, handler.RequestType, PortalJobs.Json)
                ?? throw new InvalidDataException($"The stored {record.Kind} job has no request."));
            var actor = JsonSerializer.Deserialize<Actor>(record.ActorJson, PortalJobs.Json) ?? Actor.System;
            cancel.Token.ThrowIfCancellationRequested();
            using (actors.Use(actor)) result = await handler.RunAsync(request, new JobContext(reporter, cancel.Token));
            ended = JobState.Succeeded;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            logger.LogInformation("{Kind} job on {Subject} cancelled", record.Kind, record.Subject);
            ended = JobState.Cancelled;
        }
        catch (Exception) when (stopping.IsCancellationRequested && options.Value.TakeOver)
        {
            // The process stops (a restart, a worker taken down) and work is taken over: the job goes back to the queue for
            // whichever node comes next, its staged input kept; this start does not count against it.
            logger.LogInformation("{Kind} job on {Subject} handed back to the queue: this process stops", record.Kind, record.Subject);
            handBack = true;
            ended = JobState.Queued;
        }
        catch (Exception ex) when (stopping.IsCancellationRequested)
        {
            logger.LogWarning(ex, "{Kind} job on {Subject} stopped with the process", record.Kind, record.Subject);
            error = "The portal stopped while this job ran; nothing more was done. Run it again.";
            ended = JobState.Failed;
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "{Kind} job on {Subject} failed", record.Kind, record.Subject);
            error = UserFacingError.Describe(ex);
            ended = JobState.Failed;
        }
        finally
        {
            await heartbeatStop.CancelAsync();
            await heartbeat;
            jobs.NotRunning(jobId);
            // Finished only once cleaned up: a job seen as ended has given its staged upload back (one handed back keeps it).
            if (!handBack) jobs.ReleaseInput(jobId, record.InputFolder);
        }
        // From here the job's end is what the board shows: no trailing progress notice may come after it.
        lock (gate) ended_ = true;
        if (handBack)
        {
            await using (var db = await contexts.CreateDbContextAsync(CancellationToken.None))
            {
                var at = clock.GetUtcNow();
                await db.Jobs.Where(j => j.Id == jobId && j.State == JobState.Running && j.Node == node).ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.State, JobState.Queued).SetProperty(j => j.Node, (string?)null)
                    .SetProperty(j => j.Attempts, j => j.Attempts - 1)
                    .SetProperty(j => j.ProgressText, HandedBack)
                    .SetProperty(j => j.UpdatedAt, at), CancellationToken.None);
            }
            jobs.Schedule(jobId, record.Kind, record.Description, record.Subject);
            jobs.Publish(view with { State = JobState.Queued, Progress = new JobProgress(0, HandedBack) });
            return;
        }
        var finished = clock.GetUtcNow();
        JobProgress last;
        lock (gate) last = progress;
        string? resultJson = result is null ? null : JsonSerializer.Serialize(result, result.GetType(), PortalJobs.Json);
        await using (var db = await contexts.CreateDbContextAsync(CancellationToken.None))
        {
            await db.Jobs.Where(j => j.Id == jobId).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, ended).SetProperty(j => j.Error, error).SetProperty(j => j.ResultJson, resultJson)
                .SetProperty(j => j.ProgressFraction, last.Fraction).SetProperty(j => j.ProgressText, last.Text)
                .SetProperty(j => j.FinishedAt, finished).SetProperty(j => j.UpdatedAt, finished), CancellationToken.None);
        }
        jobs.Publish(view with { State = ended, Progress = last, Result = result, Error = error, CancelRequested = view.CancelRequested || ended == JobState.Cancelled });
    }

    /// <summary>Writes the job's progress every beat and reads a Cancel asked for on another node.</summary>
    private async Task HeartbeatAsync(Guid jobId, Func<JobProgress> current, CancellationTokenSource cancel, CancellationToken stop)
    {
        var every = TimeSpan.FromMilliseconds(options.Value.HeartbeatMilliseconds);
        JobProgress? written = null;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                var p = current();
                var now = clock.GetUtcNow();
                await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
                if (p != written)
                {
                    await db.Jobs.Where(j => j.Id == jobId && j.State == JobState.Running).ExecuteUpdateAsync(s => s
                        .SetProperty(j => j.ProgressFraction, p.Fraction).SetProperty(j => j.ProgressText, p.Text)
                        .SetProperty(j => j.UpdatedAt, now), CancellationToken.None);
                    written = p;
                }
                if (!cancel.IsCancellationRequested && await db.Jobs.AnyAsync(j => j.Id == jobId && j.CancelRequested, CancellationToken.None))
                {
                    await cancel.CancelAsync();
                }
            }
            catch (Exception ex) when (ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or ObjectDisposedException)
            {
                logger.LogDebug(ex, "A heartbeat of job {Job} failed", jobId);
            }
        }
    }
}
