using System.Diagnostics;
using Hangfire;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Extensions;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// Jobs a second through the portal's job system: trivial jobs (<see cref="ProbeJob"/>) stored, handed to Hangfire, claimed,
/// run and recorded, as every background job is; one worker (the default) and two, and the latency of a lone job. On SQLite
/// (the embedded default) and, side by side, on PostgreSQL (the scaled-out deployment) when <c>Bench:Postgres</c> names a
/// server the bench may make a throwaway database on (<c>Host=…;Username=…</c>; e.g. <c>Bench__Postgres</c> from
/// <c>.build/postgres.sh start</c>'s <c>WBC_TEST_POSTGRES</c>).
/// </summary>
public sealed class JobQueueBenchmark(IConfiguration configuration) : IBenchmark
{
    private const int Jobs = 200;

    public string Name => "jobs";
    public string Description => $"{Jobs} trivial jobs through the job system (stored, queued in Hangfire, claimed, run, recorded) on SQLite and, with Bench:Postgres, on PostgreSQL: jobs a second with 1 and 2 workers, and a lone job's latency";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) =>
        RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    private async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var results = new List<BenchResult>();
        var one = await MeasureAsync(1, null, progress, cancellationToken);
        var two = await MeasureAsync(2, null, progress, cancellationToken);
        results.Add(new BenchResult("jobs.sqlite.w1", one.PerSecond, "jobs/s", null, null,
            $"{Jobs} probes queued back to back, 1 worker: {one.Seconds:0.0} s from the first queued to the last recorded; queueing alone {one.QueuedPerSecond:0} jobs/s"));
        results.Add(new BenchResult("jobs.sqlite.w2", two.PerSecond, "jobs/s", one.PerSecond, "jobs.sqlite.w1",
            $"the same with 2 workers (Jobs:CpuWorkers 2); one SQLite file takes one writer at a time"));
        results.Add(new BenchResult("jobs.sqlite.latency", one.LoneMs, "ms", null, null,
            $"one probe queued on an idle queue until recorded Succeeded (Jobs:QueuePollMilliseconds {PollMs}: a worker finds new work within that)"));
        if (configuration["Bench:Postgres"] is not { Length: > 0 } server)
        {
            progress?.Report("PostgreSQL: not measured (set Bench:Postgres to a server connection string, e.g. Bench__Postgres=\"$WBC_TEST_POSTGRES\")");
            return results;
        }
        var pgOne = await MeasureAsync(1, server, progress, cancellationToken);
        var pgTwo = await MeasureAsync(2, server, progress, cancellationToken);
        results.Add(new BenchResult("jobs.postgres.w1", pgOne.PerSecond, "jobs/s", one.PerSecond, "jobs.sqlite.w1",
            $"the same on PostgreSQL (portal tables and Hangfire's queue in one database), 1 worker: {pgOne.Seconds:0.0} s; queueing alone {pgOne.QueuedPerSecond:0} jobs/s"));
        results.Add(new BenchResult("jobs.postgres.w2", pgTwo.PerSecond, "jobs/s", two.PerSecond, "jobs.sqlite.w2",
            "PostgreSQL, 2 workers: rows are locked one by one, so workers do not wait on one writer"));
        results.Add(new BenchResult("jobs.postgres.latency", pgOne.LoneMs, "ms", one.LoneMs, "jobs.sqlite.latency",
            "a lone probe on PostgreSQL: the server wakes the worker (LISTEN/NOTIFY) instead of its poll"));
        return results;
    }

    private const int PollMs = 1000;

    private sealed record Measured(double Seconds, double PerSecond, double QueuedPerSecond, double LoneMs);

    /// <param name="postgresServer">Null: SQLite in a fresh data folder; else a fresh database on this PostgreSQL server, dropped after.</param>
    private static async Task<Measured> MeasureAsync(int workers, string? postgresServer, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        string data = Path.Combine(Path.GetTempPath(), $"wbc-bench-jobs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(data);
        string? database = postgresServer is null ? null : $"wbc_bench_{Guid.NewGuid():N}";
        try
        {
            var settings = new Dictionary<string, string?>
            {
                ["Storage:DataDirectory"] = data,
                ["Jobs:CpuWorkers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Jobs:QueuePollMilliseconds"] = PollMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (database is not null)
            {
                await PostgresAsync(postgresServer!, $"CREATE DATABASE {database}", cancellationToken);
                settings["Storage:Provider"] = "PostgreSql";
                settings["Storage:ConnectionString"] = new Npgsql.NpgsqlConnectionStringBuilder(postgresServer) { Database = database }.ToString();
            }
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
            var storage = JobHostingExtensions.CreateStorage(configuration.GetSection(Options.StorageOptions.Section).Get<Options.StorageOptions>()!,
                configuration.GetSection(JobsOptions.Section).Get<JobsOptions>()!);
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
            if (database is not null)
            {
                Npgsql.NpgsqlConnection.ClearAllPools();
                await PostgresAsync(postgresServer!, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)", CancellationToken.None);
            }
        }
    }

    private static async Task PostgresAsync(string server, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new Npgsql.NpgsqlConnection(server);
        await connection.OpenAsync(cancellationToken);
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
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
