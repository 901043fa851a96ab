using System.CommandLine;
using WbcPortal.Extensions;
using WbcPortal.Options;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>worker --queues gpu,cpu</c>: a node with no web server that takes jobs from the shared queue (PostgreSQL) until stopped
/// (Ctrl+C or SIGTERM: its running job is stopped and taken over by another node, or by this one when it comes back). GPU
/// machines take <c>gpu</c> (training runs and cross-validation folds), others <c>cpu</c> (imports, groupings, splits,
/// evaluations, …); training in a worker keeps its memory out of the web process.
/// </summary>
public sealed class WorkerVerb : ICliVerb
{
    private static readonly Option<string> Queues = new("--queues")
    {
        Description = $"The queues to work on, comma-separated: {string.Join(", ", JobKinds.AllQueues)}",
        DefaultValueFactory = _ => string.Join(',', JobKinds.AllQueues),
    };

    public string Name => "worker";

    public Command CreateCommand() => new(Name, "Run jobs from the shared queue (Storage:Provider PostgreSql) with no web server, until stopped") { Queues };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var storage = services.GetRequiredService<StorageOptions>();
        if (!storage.SharedByNodes)
            throw new CliException("a worker shares the database and the job queue with the web node: set Storage:Provider to PostgreSql " +
                "(and Storage:ConnectionString); a SQLite data folder has one owner, the portal, which runs every job itself", 2);
        IReadOnlyList<string> queues;
        try
        {
            queues = JobKinds.ParseQueues(parse.GetValue(Queues));
        }
        catch (ArgumentException ex)
        {
            throw new CliException($"--queues: {ex.Message}", 2);
        }
        if (queues.Count == 0) throw new CliException($"--queues: name at least one queue ({string.Join(", ", JobKinds.AllQueues)})", 2);

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ApplicationName = typeof(WorkerVerb).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Configuration[$"{StorageOptions.Section}:{nameof(StorageOptions.DataDirectory)}"] = storage.DataDirectory;
        builder.Logging.ClearProviders();
        builder.Logging.AddTerminalSafeConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.AddWbcCore();
        builder.Services.AddJobWork();
        builder.Services.AddJobStorageAndServers(builder.Configuration, queues);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(40));
        using var host = builder.Build();
        await host.StartAsync(cancellationToken);
        output.Error.WriteLine($"WbcPortal worker {Storage.ProcessIdentity.Current} is taking jobs from {string.Join(", ", queues)} ({storage.DatabaseDescription}); Ctrl+C to stop");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        await host.StopAsync(CancellationToken.None);
        output.WriteResult(new { stopped = true, node = Storage.ProcessIdentity.Current.ToString(), queues }, w => w.WriteLine("worker stopped"));
        return 0;
    }
}
