using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.Options;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Services.Jobs;

/// <summary>
/// Hangfire's storage on the configured provider and this node's job servers: the web host and <c>worker</c> share it, so a
/// job queued on one node runs on whichever node works on its queue.
/// </summary>
public static class JobHostingExtensions
{
    /// <summary>
    /// Hangfire's storage on the portal's engine: <c>hangfire.db</c> beside SQLite's database, or the <c>hangfire</c> schema of the
    /// PostgreSQL database every node shares. Also for a verb that only queues (<c>train --queue</c>).
    /// </summary>
    public static JobStorage CreateStorage(StorageOptions storage, JobsOptions jobs)
    {
        switch (storage.Provider)
        {
            case StorageProvider.PostgreSql:
                return new PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(storage.WritableConnectionString, new PostgreSqlStorageOptions()), new PostgreSqlStorageOptions
                {
                    SchemaName = "hangfire",
                    PrepareSchemaIfNecessary = true,
                    QueuePollInterval = TimeSpan.FromMilliseconds(jobs.QueuePollMilliseconds),
                    // A fetched job stays invisible while its worker lives (kept alive); a worker that dies lets it go after
                    // this long. Our own take-over (Jobs:TakeOver) is quicker; either way the job's claim runs it once.
                    UseSlidingInvisibilityTimeout = true,
                    InvisibilityTimeout = TimeSpan.FromMinutes(5),
                    // Workers are woken by the server (LISTEN/NOTIFY) when a job is queued, not only at the poll interval.
                    EnableLongPolling = true,
                });
            default:
                Directory.CreateDirectory(storage.DataDirectoryFullPath);
                // The SQLite storage does not renew a running job's invisibility timeout: keep it longer than any run;
                // our run record (an atomic claim) guards against a second start anyway.
                return new SQLiteStorage(DataFolderLayout.JobDatabasePath(storage.DataDirectoryFullPath), new SQLiteStorageOptions
                {
                    InvisibilityTimeout = TimeSpan.FromDays(7),
                    // SQLite tells no worker of a new job: it is polled for (15 s by default, too long to wait for an import).
                    QueuePollInterval = TimeSpan.FromMilliseconds(jobs.QueuePollMilliseconds),
                });
        }
    }

    /// <summary>
    /// Hangfire on the portal's own database engine: a <c>jobs.db</c> beside SQLite's database, or the <c>hangfire</c> schema
    /// in the PostgreSQL database every node shares; and a server per queue this node works on (<paramref name="queues"/>,
    /// else <c>Jobs:Queues</c>): <c>gpu</c> with one worker (one run per device at a time), <c>cpu</c> with <c>Jobs:CpuWorkers</c>.
    /// </summary>
    public static IServiceCollection AddJobStorageAndServers(this IServiceCollection services, IConfiguration configuration, IReadOnlyList<string>? queues = null)
    {
        services.AddHangfire((sp, config) =>
        {
            var storage = sp.GetRequiredService<StorageOptions>();
            var jobs = sp.GetRequiredService<IOptions<JobsOptions>>().Value;
            config.SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings()
                .UseStorage(CreateStorage(storage, jobs));
        });
        var mine = queues ?? (configuration.GetSection(JobsOptions.Section).Get<JobsOptions>() ?? new JobsOptions()).QueueList;
        if (mine.Contains(JobKinds.GpuQueue))
        {
            services.AddHangfireServer(o =>
            {
                o.ServerName = $"{ProcessIdentity.Current}.gpu";
                o.WorkerCount = 1;
                o.Queues = [JobKinds.GpuQueue];
                o.ShutdownTimeout = TimeSpan.FromSeconds(30);
            });
        }
        if (mine.Contains(JobKinds.CpuQueue))
        {
            // Every other job (import, grouping, split, leak check, version, label issues, evaluation): its own workers, so a
            // training run never waits behind an import nor an import behind a run.
            services.AddHangfireServer((sp, o) =>
            {
                o.ServerName = $"{ProcessIdentity.Current}.cpu";
                o.WorkerCount = sp.GetRequiredService<IOptions<JobsOptions>>().Value.CpuWorkers;
                o.Queues = [JobKinds.CpuQueue];
                o.ShutdownTimeout = TimeSpan.FromSeconds(30);
            });
        }
        if (mine.Contains(JobKinds.InferenceQueue))
        {
            // Classify and Smears batches: their own workers, so a batch never waits behind an import.
            services.AddHangfireServer((sp, o) =>
            {
                o.ServerName = $"{ProcessIdentity.Current}.inference";
                o.WorkerCount = sp.GetRequiredService<IOptions<JobsOptions>>().Value.InferenceWorkers;
                o.Queues = [JobKinds.InferenceQueue];
                o.ShutdownTimeout = TimeSpan.FromSeconds(30);
            });
        }
        services.AddSingleton<OrphanedWork>();
        services.AddHostedService(sp => sp.GetRequiredService<OrphanedWork>());
        return services;
    }
}
