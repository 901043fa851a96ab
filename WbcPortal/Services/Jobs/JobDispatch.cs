using System.Collections.Concurrent;
using Hangfire;
using WbcPortal.Options;

namespace WbcPortal.Services.Jobs;

/// <summary>
/// How a stored job reaches a worker: Hangfire's queue of its kind (on disk, so queued work survives a restart and any
/// worker node takes it), or, on a read-only portal (no Hangfire server, its records in memory: <see cref="JobDatabase"/>),
/// this process's own workers, as many per queue as the portal's Hangfire servers would have. The same
/// <see cref="JobRunner"/> runs the job either way: claim, progress, cancel, failure reason.
/// </summary>
public sealed class JobDispatch(IServiceProvider services, StorageOptions storage, Microsoft.Extensions.Options.IOptions<JobsOptions> options, ILogger<JobDispatch> logger)
    : IAsyncDisposable
{
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> workers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, Task> inProcess = new();

    /// <summary>Hands the stored, queued job <paramref name="jobId"/> to a worker of its kind's queue.</summary>
    internal void Dispatch(Guid jobId, string title, JobKind kind)
    {
        string queue = JobKinds.Queue(kind);
        if (!storage.ReadOnly)
        {
            // Resolved here: the runner needs the board, and the board this.
            services.GetRequiredService<IBackgroundJobClient>()
                .Create<JobRunner>(r => r.RunAsync(jobId, title, CancellationToken.None), new Hangfire.States.EnqueuedState(queue));
            return;
        }
        ObjectDisposedException.ThrowIf(stopping.IsCancellationRequested, this);
        var runner = services.GetRequiredService<JobRunner>();
        var gate = workers.GetOrAdd(queue, q => new SemaphoreSlim(options.Value.WorkersOf(q)));
        inProcess[jobId] = Task.Run(async () =>
        {
            try
            {
                await gate.WaitAsync(stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return; // stopped while queued: a read-only portal's jobs end with it
            }
            try
            {
                await runner.RunAsync(jobId, title, stopping.Token);
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Job {Job} ({Title}) could not be run", jobId, title);
            }
            finally
            {
                gate.Release();
                inProcess.TryRemove(jobId, out _);
            }
        });
    }

    /// <summary>Stops this process's own workers: a running job ends Failed ("The portal stopped…"), as on a Hangfire server.</summary>
    public async ValueTask DisposeAsync()
    {
        if (stopping.IsCancellationRequested) return;
        await stopping.CancelAsync();
        try
        {
            await Task.WhenAll(inProcess.Values).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            logger.LogWarning("{Count} in-process job(s) did not stop in 30 s", inProcess.Count);
        }
        stopping.Dispose();
    }
}
