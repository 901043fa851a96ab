using System.CommandLine;
using WbcPortal.Cli.Verbs;
using WbcPortal.Extensions;
using WbcPortal.Options;
using WbcPortal.Services;
using WbcPortal.Storage;

namespace WbcPortal.Cli;

/// <summary>
/// The headless verbs (../shared/docs/CLI.md). They share the portal's services and data folder but
/// never start the web server. Exit code 0 on success; otherwise a one-line reason on stderr.
/// </summary>
public static class CliApp
{
    private static readonly string[] HelpTokens = ["-h", "--help", "-?", "--version"];

    public static IReadOnlyList<ICliVerb> Verbs { get; } = [new InfoVerb(), new ImportVerb(), new GroupsVerb(), new SplitVerb(), new TrainVerb(), new ResumeVerb(), new EvaluateVerb(), new BenchVerb(), new BackupVerb(), new RestoreVerb(), new StorageVerb(), new LabelIssuesVerb(), new CalibrateVerb(), new PredictVerb(), new SmearVerb(), new EnsembleVerb(), new UserVerb(), new TokenVerb(), new WorkerVerb()];

    /// <summary>
    /// True when the arguments name a verb, ask for help, or hold a word that is not a setting (a mistyped verb,
    /// which the parser then refuses with the list of verbs). Only arguments made of settings start the web server:
    /// <c>--key value</c>, <c>--key=value</c>, <c>/key value</c> or <c>key=value</c>.
    /// </summary>
    public static bool IsVerbInvocation(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (HelpTokens.Contains(a) || Verbs.Any(v => v.Name == a)) return true;
            if (a.StartsWith('-') || a.StartsWith('/'))
            {
                if (!a.Contains('=')) i++; // the setting's value
                continue;
            }
            if (a.Contains('=')) continue;
            return true;
        }
        return false;
    }

    public static string VerbList => string.Join(", ", Verbs.Select(v => v.Name));

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        // A verb's one-line failure often names a file (a folder not found, a zip that is not one): escaped like all its text.
        var safeErr = TerminalSafeWriter.Wrap(stderr);
        var dataDir = new Option<string?>("--data-dir")
        {
            Description = "Data folder (database, images, checkpoints, models); default from appsettings.json",
            Recursive = true,
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON document on stdout; human text and progress go to stderr",
            Recursive = true,
        };
        var root = new RootCommand("WbcPortal headless verbs: everything the web pages do, scriptable. Run without a verb to start the portal.")
        {
            dataDir,
            json,
        };
        foreach (var verb in Verbs)
        {
            var command = verb.CreateCommand();
            command.SetAction(async (parse, cancellationToken) =>
            {
                var output = new CliOutput(parse.GetValue(json), stdout, stderr);
                try
                {
                    using var host = BuildHost(parse.GetValue(dataDir));
                    // The CLI runs on the server, by someone who can read the data folder: the operator, with all rights (README, Security).
                    using var asOperator = host.Services.GetRequiredService<Services.Accounts.ActorContext>().Use(Services.Accounts.Actor.Operator(Environment.UserName));
                    var storage = host.Services.GetRequiredService<StorageOptions>();
                    bool writes = verb.WritesDataFor(parse);
                    // A folder several nodes share (PostgreSQL) has no owner: its work is claimed row by row.
                    using var folderLock = writes && !storage.SharedByNodes
                        ? DataFolderLock.Acquire(storage.DataDirectoryFullPath, $"WbcPortal {verb.Name}", string.Join(' ', args))
                        : null;
                    // A full disk: a deletion gets the folder's reserve; a reader a little of it, for SQLite's shared-memory index.
                    var space = host.Services.GetRequiredService<DataFolderSpace>();
                    if (writes && verb.FreesSpaceFor(parse)) space.ReleaseReserveIfLow();
                    else if (!writes) space.BorrowRoomToRead();
                    if (writes && verb.PreparesDataFolder) await host.Services.GetRequiredService<DataFolderStartup>().PrepareAsync(cancellationToken);
                    if (!writes && verb.Name is not ("info" or "bench")) await RequireCurrentDatabaseAsync(host.Services, storage, cancellationToken);
                    return await verb.RunAsync(parse, host.Services, output, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    safeErr.WriteLine($"{verb.Name}: cancelled");
                    return 130;
                }
                catch (Exception ex)
                {
                    // Whatever went wrong ends as one line a person can act on, never a stack trace.
                    safeErr.WriteLine($"{verb.Name}: {UserFacingError.Describe(ex)}");
                    return ex is CliException cli ? cli.ExitCode : ex is DataFolderLockedException ? 3 : 1;
                }
            });
            root.Subcommands.Add(command);
        }

        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0 && parseResult.CommandResult.Command == root)
        {
            // No verb matched: a mistyped verb must never fall through to starting the web server.
            string unknown = args.FirstOrDefault(a => !a.StartsWith('-') && !a.Contains('=')) ?? args.FirstOrDefault() ?? "";
            safeErr.WriteLine($"WbcPortal: unknown verb '{unknown}'. Verbs: {VerbList}. Run without a verb to start the portal; --help for more.");
            return 2;
        }
        return await parseResult.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    /// <summary>
    /// A verb that only reads never migrates the database (another process may hold the folder): one written by an older version
    /// is refused with what to do, instead of a query failing on a column it lacks.
    /// </summary>
    private static async Task RequireCurrentDatabaseAsync(IServiceProvider services, StorageOptions storage, CancellationToken cancellationToken)
    {
        if (storage.ConnectionString is not null || !File.Exists(storage.DatabasePath) || new FileInfo(storage.DatabasePath).Length == 0) return;
        await using var db = await services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<Storage.WbcDbContext>>().CreateDbContextAsync(cancellationToken);
        var applied = await Microsoft.EntityFrameworkCore.RelationalDatabaseFacadeExtensions.GetAppliedMigrationsAsync(db.Database, cancellationToken);
        if (!applied.Any()) return; // not a database this program made: the verb says what it finds
        var pending = (await Microsoft.EntityFrameworkCore.RelationalDatabaseFacadeExtensions.GetPendingMigrationsAsync(db.Database, cancellationToken)).ToList();
        if (pending.Count > 0)
            throw new CliException($"the database in {storage.DataDirectoryFullPath} was written by an older version of WbcPortal ({pending.Count} change(s) to apply); " +
                "start the portal or run a writing verb with this version once (when no other process holds the folder) to bring it up to date; nothing was changed", 5);
    }

    private static IHost BuildHost(string? dataDirectory)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ApplicationName = typeof(CliApp).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        if (!string.IsNullOrWhiteSpace(dataDirectory))
        {
            builder.Configuration[$"{StorageOptions.Section}:{nameof(StorageOptions.DataDirectory)}"] = dataDirectory;
        }
        // Verbs print their own results: only warnings and errors from the services (appsettings.json says Information for the portal).
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning" });
        builder.Logging.ClearProviders();
        builder.Logging.AddTerminalSafeConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failed query ends the verb with its one-line reason; EF Core's own error log would add a stack trace before it.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.None);
        builder.Services.AddWbcCore();
        return builder.Build();
    }

}

/// <summary>A failure a verb reports as its one-line reason, with its exit code.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
