using System.Diagnostics;
using Hangfire;
using Hangfire.Storage.SQLite;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Extensions;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// Jobs a second through the portal's job system on its SQLite storage: trivial jobs (<see cref="ProbeJob"/>) stored,
/// handed to Hangfire, claimed, run and recorded, as every background job is; one worker (the default) and two, and the
/// latency of a lone job at the queue's poll interval.
/// </summary>
public sealed class JobQueueBenchmark : IBenchmark
{
    private const int Jobs = 200;

    public string Name => "jobs";
    public string Description => $"{Jobs} trivial jobs through the job system on SQLite (stored, queued in Hangfire, claimed, run, recorded): jobs a second with 1 and 2 workers, and a lone job's latency";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) =>
        RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    private static async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var one = await MeasureAsync(1, progress, cancellationToken);
        var two = await MeasureAsync(2, progress, cancellationToken);
        return
        [
            new BenchResult("jobs.sqlite.w1", one.PerSecond, "jobs/s", null, null,
                $"{Jobs} probes queued back to back, 1 worker: {one.Seconds:0.0} s from the first queued to the last recorded; queueing alone {one.QueuedPerSecond:0} jobs/s"),
            new BenchResult("jobs.sqlite.w2", two.PerSecond, "jobs/s", one.PerSecond, "jobs.sqlite.w1",
                $"the same with 2 workers (Jobs:CpuWorkers 2); one SQLite file takes one writer at a time"),
            new BenchResult("jobs.sqlite.latency", one.LoneMs, "ms", null, null,
                $"one probe queued on an idle queue until recorded Succeeded (Jobs:QueuePollMilliseconds {PollMs}: a worker finds new work within that)"),
        ];
    }

    private const int PollMs = 1000;

    private sealed record Measured(double Seconds, double PerSecond, double QueuedPerSecond, double LoneMs);

    private static async Task<Measured> MeasureAsync(int workers, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        string data = Path.Combine(Path.GetTempPath(), $"wbc-bench-jobs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(data);
        try
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Storage:DataDirectory"] = data,
                ["Jobs:CpuWorkers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }).Build();
            var storage = new SQLiteStorage(DataFolderLayout.JobDatabasePath(data), new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(PollMs) });
            await using var services = new ServiceCollection()
                .AddSingleton<IConfiguration>(configuration)
                .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
                .AddWbcCore()
                .AddPortalJobs()
                .AddSingleton<JobStorage>(storage)
                .AddSingleton<IBackgroundJobClient>(sp => new BackgroundJobClient(sp.GetRequiredService<JobStorage>()))
                .BuildServiceProvider();
            await services.GetRequiredService<DatabaseMigrator>().MigrateAsync();
            var board = services.GetRequiredService<PortalJobs>();
            await board.StartAsync(cancellationToken);
            using var server = new BackgroundJobServer(new BackgroundJobServerOptions
            {
                Queues = [JobKinds.CpuQueue],
                WorkerCount = workers,
                Activator = new Hangfire.AspNetCore.AspNetCoreJobActivator(services.GetRequiredService<IServiceScopeFactory>()),
                ServerName = $"bench-{workers}",
            }, storage);
            try
            {
                // Warm: the first job loads everything once.
                await WaitAsync(board, async () => [(await board.EnqueueAsync(new ProbeJob("warm-up"), cancellationToken: cancellationToken)).Id], cancellationToken);
                progress?.Report($"{Jobs} probes, {workers} worker(s)");
                var watch = Stopwatch.StartNew();
                double queued = 0;
                await WaitAsync(board, async () =>
                {
                    var ids = new List<Guid>(Jobs);
                    for (int i = 0; i < Jobs; i++) ids.Add((await board.EnqueueAsync(new ProbeJob($"{i + 1} of {Jobs}"), cancellationToken: cancellationToken)).Id);
                    queued = watch.Elapsed.TotalSeconds;
                    return ids;
                }, cancellationToken);
                double seconds = watch.Elapsed.TotalSeconds;
                // A lone job on the idle queue.
                await Task.Delay(PollMs * 2, cancellationToken);
                var lone = Stopwatch.StartNew();
                await WaitAsync(board, async () => [(await board.EnqueueAsync(new ProbeJob("lone"), cancellationToken: cancellationToken)).Id], cancellationToken);
                return new Measured(seconds, Jobs / seconds, Jobs / queued, lone.Elapsed.TotalMilliseconds);
            }
            finally
            {
                server.SendStop();
                await board.StopAsync(CancellationToken.None);
            }
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Waits until every job has been heard of as finished (the board keeps only the newest jobs, so it is not asked).</summary>
    private static async Task WaitAsync(PortalJobs board, Func<Task<IReadOnlyList<Guid>>> enqueue, CancellationToken cancellationToken)
    {
        var finished = new System.Collections.Concurrent.ConcurrentDictionary<Guid, JobView>();
        using var subscription = board.Subscribe(j => { if (j.Finished) finished[j.Id] = j; });
        var ids = await enqueue();
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (!ids.All(finished.ContainsKey))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the probes did not finish in 10 minutes");
            await Task.Delay(5, cancellationToken);
        }
        if (ids.Select(id => finished[id]).FirstOrDefault(j => j.State != JobState.Succeeded) is { } failed)
            throw new InvalidOperationException($"a probe ended {failed.State}: {failed.Error}");
    }
}
