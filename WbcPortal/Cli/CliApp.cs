using System.CommandLine;
using WbcPortal.Cli.Verbs;
using WbcPortal.Extensions;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Cli;

/// <summary>
/// The headless verbs (../shared/docs/CLI.md). They share the portal's services and data folder but
/// never start the web server. Exit code 0 on success; otherwise a one-line reason on stderr.
/// </summary>
public static class CliApp
{
    private static readonly string[] HelpTokens = ["-h", "--help", "-?", "--version"];

    public static IReadOnlyList<ICliVerb> Verbs { get; } = [new InfoVerb(), new ImportVerb(), new GroupsVerb(), new SplitVerb(), new TrainVerb(), new ResumeVerb(), new EvaluateVerb(), new BenchVerb()];

    /// <summary>True when the arguments name a verb (or ask for help) rather than web-server settings.</summary>
    public static bool IsVerbInvocation(string[] args) =>
        args.Any(a => HelpTokens.Contains(a) || Verbs.Any(v => v.Name == a));

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
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
                    await host.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
                    return await verb.RunAsync(parse, host.Services, output, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    stderr.WriteLine($"{verb.Name}: cancelled");
                    return 130;
                }
                catch (Exception ex) when (ex is CliException or Microsoft.Extensions.Options.OptionsValidationException
                                               or ArgumentException or InvalidOperationException or IOException
                                               or InvalidDataException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"{verb.Name}: {OneLine(ex.Message)}");
                    return ex is CliException cli ? cli.ExitCode : 1;
                }
            });
            root.Subcommands.Add(command);
        }

        var parseResult = root.Parse(args);
        return await parseResult.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
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
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddWbcCore();
        return builder.Build();
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

/// <summary>A failure a verb reports as its one-line reason, with its exit code.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
