using System.Collections.Concurrent;
using System.Threading.Channels;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Services.Datasets;

namespace WbcPortal.Services.Jobs;

public enum ImportJobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// <summary>A background import as the pages see it. Mutated only by <see cref="ImportJobs"/>.</summary>
public sealed class ImportJob
{
    public required Guid Id { get; init; }
    public required string Dataset { get; init; }
    public required string Source { get; init; }
    public DateTimeOffset QueuedAt { get; init; }
    public ImportJobState State { get; internal set; }
    public ImportProgress Progress { get; internal set; } = new(0, 0, 0, 0, null);
    public DatasetImportSummary? Result { get; internal set; }
    public string? Error { get; internal set; }
    public bool Finished => State is ImportJobState.Succeeded or ImportJobState.Failed;
}

/// <summary>
/// Runs imports one at a time off the circuit and tells subscribers when any job changes. The page
/// that started an import can be closed or refreshed: the job goes on and the page finds it again here.
/// </summary>
public sealed class ImportJobs(ILogger<ImportJobs> logger, TimeProvider clock) : BackgroundService
{
    private sealed record Work(ImportJob Job, Func<IProgress<ImportProgress>, CancellationToken, Task<DatasetImportSummary>> Run, Action? Cleanup);

    private readonly Channel<Work> queue = Channel.CreateUnbounded<Work>();
    private readonly ConcurrentDictionary<Guid, ImportJob> jobs = new();
    private readonly ConcurrentDictionary<Guid, Action<ImportJob>> subscribers = new();

    public IReadOnlyList<ImportJob> Recent => jobs.Values.OrderByDescending(j => j.QueuedAt).Take(20).ToList();

    public ImportJob Enqueue(string dataset, string source, Func<IProgress<ImportProgress>, CancellationToken, Task<DatasetImportSummary>> run, Action? cleanup = null)
    {
        var job = new ImportJob { Id = Guid.NewGuid(), Dataset = dataset, Source = source, QueuedAt = clock.GetUtcNow(), State = ImportJobState.Queued };
        jobs[job.Id] = job;
        if (!queue.Writer.TryWrite(new Work(job, run, cleanup))) throw new InvalidOperationException("The import queue is closed.");
        Notify(job);
        return job;
    }

    /// <summary>Calls <paramref name="onChange"/> (from a background thread) whenever a job changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<ImportJob> onChange)
    {
        var id = Guid.NewGuid();
        subscribers[id] = onChange;
        return new Subscription(() => subscribers.TryRemove(id, out _));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var work in queue.Reader.ReadAllAsync(stoppingToken))
        {
            var job = work.Job;
            job.State = ImportJobState.Running;
            Notify(job);
            var lastNotified = DateTime.MinValue;
            var progress = new InlineProgress(p =>
            {
                job.Progress = p;
                if (DateTime.UtcNow - lastNotified > TimeSpan.FromMilliseconds(250) || p.Done == p.Total)
                {
                    lastNotified = DateTime.UtcNow;
                    Notify(job);
                }
            });
            try
            {
                job.Result = await work.Run(progress, stoppingToken);
                job.State = ImportJobState.Succeeded;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Import into {Dataset} failed", job.Dataset);
                job.Error = ex.Message;
                job.State = ImportJobState.Failed;
            }
            finally
            {
                work.Cleanup?.Invoke();
            }
            Notify(job);
        }
    }

    private void Notify(ImportJob job)
    {
        foreach (var callback in subscribers.Values)
        {
            try
            {
                callback(job);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
            {
                logger.LogDebug(ex, "An import subscriber failed");
            }
        }
    }

    /// <summary>Reports synchronously on the worker thread (Progress&lt;T&gt; would post to a context and reorder).</summary>
    private sealed class InlineProgress(Action<ImportProgress> report) : IProgress<ImportProgress>
    {
        public void Report(ImportProgress value) => report(value);
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0) dispose();
        }
    }
}
