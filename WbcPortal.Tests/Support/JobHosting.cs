using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Tests.Support;

/// <summary>
/// The portal's own job system in a test's services: the board, the runner and every handler, with Hangfire on SQLite in
/// the test's data folder (as the portal runs it), polled often so a test does not wait on the production intervals.
/// </summary>
public static class JobHosting
{
    public static IServiceCollection AddJobsForTests(this IServiceCollection services, string dataDirectory)
    {
        services.AddPortalJobs();
        services.Configure<JobsOptions>(o =>
        {
            o.PollMilliseconds = 100;
            o.HeartbeatMilliseconds = 100;
        });
        services.AddSingleton<JobStorage>(_ =>
        {
            // Hangfire logs through a process-wide provider that another test's host may have left disposed: its own default here.
            Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
            return new SQLiteStorage(Path.Combine(dataDirectory, "hangfire.db"), new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100) });
        });
        services.AddSingleton<IBackgroundJobClient>(sp => new BackgroundJobClient(sp.GetRequiredService<JobStorage>()));
        return services;
    }

    /// <summary>
    /// Starts the board and, as the portal does, a Hangfire server on each queue (one worker each: the CPU queue's default,
    /// and one for Classify and Smears batches); dispose to stop them. A read-only portal starts the board only: it runs no
    /// Hangfire, its jobs run in process.
    /// </summary>
    public static async Task<RunningJobs> StartJobsAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        var board = services.GetRequiredService<PortalJobs>();
        await board.StartAsync(cancellationToken);
        await board.Loaded.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        if (services.GetRequiredService<WbcPortal.Options.StorageOptions>().ReadOnly) return new RunningJobs(board, []);
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        var servers = JobKinds.AllQueues.Where(q => q != JobKinds.GpuQueue).Select(queue => new BackgroundJobServer(new BackgroundJobServerOptions
        {
            Queues = [queue],
            WorkerCount = 1,
            Activator = new Hangfire.AspNetCore.AspNetCoreJobActivator(services.GetRequiredService<IServiceScopeFactory>()),
            ShutdownTimeout = TimeSpan.FromSeconds(30),
            ServerName = $"test-{queue}-{Guid.NewGuid():N}",
        }, services.GetRequiredService<JobStorage>())).ToList();
        return new RunningJobs(board, servers);
    }

    /// <summary>Waits until the job has finished (its view on the board), or fails the test after <paramref name="seconds"/>.</summary>
    public static async Task<JobView> FinishedAsync(this PortalJobs jobs, Guid id, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (jobs.Find(id) is { Finished: true } done) return done;
            await Task.Delay(20);
        }
        throw new TimeoutException($"Job {id} did not finish in {seconds} s: {jobs.Find(id)?.State} {jobs.Find(id)?.Progress.Text}");
    }
}

public sealed class RunningJobs(PortalJobs board, IReadOnlyList<BackgroundJobServer> servers) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var server in servers) server.SendStop();
        await Task.Run(() => { foreach (var server in servers) server.Dispose(); });
        await board.StopAsync(CancellationToken.None);
    }
}

/// <summary>
/// Work a test puts in place of a kind's handler, found by the request's description (so a test can hold a job running,
/// fail it, or gate it, while the job system around it — queue, claim, state, progress, cancel, staged input — is the real one).
/// A request with no script runs nothing and fails, so a test never passes on work it did not mean to run.
/// </summary>
public sealed class ScriptedWork
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Func<JobContext, Task<object>>> scripts = new();

    public void On(string description, Func<JobContext, Task<object>> work) => scripts[description] = work;

    internal Task<object> Run(JobRequest request, JobContext context) =>
        scripts.TryGetValue(request.Description, out var work) ? work(context) : throw new InvalidOperationException($"No script for the job '{request.Description}'.");
}

public sealed class ScriptedHandler<TRequest>(ScriptedWork work) : JobHandler<TRequest, object> where TRequest : JobRequest
{
    protected override Task<object> RunAsync(TRequest job, JobContext context) => work.Run(job, context);
}

public static class ScriptedWorkExtensions
{
    /// <summary>Puts <see cref="ScriptedWork"/> in place of the handler of <typeparamref name="TRequest"/>'s kind.</summary>
    public static IServiceCollection AddScriptedJobs<TRequest>(this IServiceCollection services) where TRequest : JobRequest
    {
        services.TryAddSingletonScriptedWork();
        return services.AddJobHandler<ScriptedHandler<TRequest>>();
    }

    private static void TryAddSingletonScriptedWork(this IServiceCollection services) =>
        Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.TryAddSingleton<ScriptedWork>(services);
}
