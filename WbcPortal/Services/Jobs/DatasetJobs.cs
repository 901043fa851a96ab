using System.Collections.Concurrent;
using System.Threading.Channels;

namespace WbcPortal.Services.Jobs;

public enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    /// <summary>Stopped by a user; <see cref="DatasetJob.CancelledNote"/> says what was kept.</summary>
    Cancelled,
}

/// <summary>Progress as a job reports it: a fraction and a line for people.</summary>
public sealed record JobProgress(double Fraction, string Text);

/// <summary>The kinds of dataset job, as <see cref="DatasetJob.Kind"/> holds them (and the job cards' test ids).</summary>
public static class DatasetJobKinds
{
    public const string Import = "import";
    public const string Grouping = "grouping";
    public const string Split = "split";
    public const string Version = "version";
    public const string LabelIssues = "label-issues";
}

/// <summary>A background dataset job (import, source grouping, split) as the pages see it. Mutated only by <see cref="DatasetJobs"/>.</summary>
public sealed class DatasetJob
{
    public required Guid Id { get; init; }
    public required string Kind { get; init; }
    public required string Dataset { get; init; }
    public required string Description { get; init; }
    public DateTimeOffset QueuedAt { get; init; }
    public JobState State { get; internal set; }
    public JobProgress Progress { get; internal set; } = new(0, "queued");
    public object? Result { get; internal set; }
    public string? Error { get; internal set; }
    /// <summary>What a cancelled job leaves behind, for people (e.g. "no split was stored").</summary>
    public string? CancelledNote { get; init; }
    /// <summary>Cancel was asked for; the job ends at its next cancellation check.</summary>
    public bool CancelRequested { get; internal set; }
    public bool Finished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}

/// <summary>
/// Runs dataset jobs one at a time, off the circuit, and tells subscribers when a job changes. The
/// page that started a job can be closed or refreshed: the job goes on and the page finds it here.
/// </summary>
public sealed class DatasetJobs(ILogger<DatasetJobs> logger, TimeProvider clock, Datasets.UploadStaging staging, Accounts.ActorContext actors) : BackgroundService
{
    private sealed record Work(DatasetJob Job, Func<IProgress<JobProgress>, CancellationToken, Task<object>> Run, Action? Cleanup, Datasets.StagingLease? Input, Accounts.Actor Actor)
    {
        public CancellationTokenSource Cancellation { get; } = new();
    }

    private readonly Channel<Work> queue = Channel.CreateUnbounded<Work>();
    private readonly ConcurrentDictionary<Guid, DatasetJob> jobs = new();
    private readonly ConcurrentDictionary<Guid, Work> pending = new();
    private readonly ChangeNotifier<DatasetJob> changes = new(logger);

    public IReadOnlyList<DatasetJob> Recent(string? kind = null, string? dataset = null) =>
        jobs.Values.Where(j => (kind is null || j.Kind == kind) && (dataset is null || j.Dataset == dataset))
            .OrderByDescending(j => j.QueuedAt).Take(20).ToList();

    /// <summary>True while a queued or running job is of this kind on this dataset (e.g. an import into it).</summary>
    public bool IsBusy(string kind, string dataset) =>
        jobs.Values.Any(j => j.Kind == kind && string.Equals(j.Dataset, dataset, StringComparison.Ordinal) && !j.Finished);

    /// <param name="cancelledNote">What is kept when a user cancels the job, shown on its card.</param>
    /// <param name="input">
    /// The staged upload the job reads: handed over to the job here (its upload's owner no longer releases it) and released
    /// when the job ends, however it ends. Refused with <see cref="Datasets.StagingReleasedException"/>, nothing queued, when
    /// it was released before (a closed circuit, an idle upload swept).
    /// </param>
    public DatasetJob Enqueue(string kind, string dataset, string description, Func<IProgress<JobProgress>, CancellationToken, Task<object>> run,
        Action? cleanup = null, string? cancelledNote = null, Datasets.StagingLease? input = null)
    {
        input?.HandOverToJob();
        var job = new DatasetJob { Id = Guid.NewGuid(), Kind = kind, Dataset = dataset, Description = description, QueuedAt = clock.GetUtcNow(), State = JobState.Queued, CancelledNote = cancelledNote };
        // The job runs as the one who queued it: their role is checked again by the services, and the audit names them.
        var work = new Work(job, run, cleanup, input, actors.Current);
        jobs[job.Id] = job;
        pending[job.Id] = work;
        if (!queue.Writer.TryWrite(work))
        {
            pending.TryRemove(job.Id, out _);
            jobs.TryRemove(job.Id, out _);
            input?.Dispose();
            throw new InvalidOperationException("The job queue is closed.");
        }
        Notify(job);
        return job;
    }

    /// <summary>
    /// Cancels a queued job (it never starts) or a running one (it stops at its next cancellation check; its clean-up
    /// still runs). False when the job is unknown or already finished.
    /// </summary>
    public bool Cancel(Guid jobId)
    {
        if (!pending.TryGetValue(jobId, out var work) || work.Job.Finished) return false;
        work.Job.CancelRequested = true;
        work.Cancellation.Cancel();
        Notify(work.Job);
        return true;
    }

    /// <summary>Calls <paramref name="onChange"/> (from a background thread) whenever a job changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<DatasetJob> onChange) => changes.Subscribe(onChange);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var work in queue.Reader.ReadAllAsync(stoppingToken))
        {
            var job = work.Job;
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, work.Cancellation.Token);
            if (!work.Cancellation.IsCancellationRequested)
            {
                job.State = JobState.Running;
                job.Progress = new JobProgress(0, "started");
                Notify(job);
            }
            long lastNotified = 0;
            var progress = new InlineProgress(p =>
            {
                job.Progress = p;
                long now = Environment.TickCount64;
                if (now - Interlocked.Read(ref lastNotified) > 250 || p.Fraction >= 1)
                {
                    Interlocked.Exchange(ref lastNotified, now);
                    Notify(job);
                }
            });
            JobState ended;
            try
            {
                linked.Token.ThrowIfCancellationRequested();
                using (actors.Use(work.Actor)) job.Result = await work.Run(progress, linked.Token);
                ended = JobState.Succeeded;
            }
            catch (OperationCanceledException) when (work.Cancellation.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
            {
                logger.LogInformation("{Kind} job on {Dataset} cancelled", job.Kind, job.Dataset);
                ended = JobState.Cancelled;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "{Kind} job on {Dataset} failed", job.Kind, job.Dataset);
                job.Error = UserFacingError.Describe(ex);
                ended = JobState.Failed;
            }
            finally
            {
                pending.TryRemove(job.Id, out _);
                RunCleanup(work);
            }
            // Finished only once cleaned up: a job seen as ended has given its staged upload back.
            job.State = ended;
            Notify(job);
        }
    }

    private void RunCleanup(Work work)
    {
        try
        {
            try
            {
                work.Cleanup?.Invoke();
            }
            finally
            {
                // The job's staged upload goes back whatever happened to the job and to its clean-up.
                work.Input?.Dispose();
            }
            // Whatever a job or an earlier failure left in the staging area goes now, except uploads still in use.
            staging.Sweep();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Cleaning up after the {Kind} job on {Dataset} failed", work.Job.Kind, work.Job.Dataset);
        }
    }

    private void Notify(DatasetJob job) => changes.Notify(job);

    /// <summary>Reports synchronously on the worker thread (Progress&lt;T&gt; would post to a context and reorder).</summary>
    private sealed class InlineProgress(Action<JobProgress> report) : IProgress<JobProgress>
    {
        public void Report(JobProgress value) => report(value);
    }
}

/// <summary>Adapters from the Engine's progress types to <see cref="JobProgress"/>.</summary>
public static class JobProgressAdapters
{
    public static IProgress<Engine.Datasets.Import.ImportProgress> ForImport(this IProgress<JobProgress> job) =>
        new Adapter<Engine.Datasets.Import.ImportProgress>(p => job.Report(new JobProgress(
            p.Total == 0 ? 0 : (double)p.Done / p.Total, $"checked {p.Done:N0} of {p.Total:N0} · {p.Rejected:N0} not imported")));

    public static IProgress<double> ForFraction(this IProgress<JobProgress> job, string what) =>
        new Adapter<double>(f => job.Report(new JobProgress(f, $"{what}: {f:P0}")));

    private sealed class Adapter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
