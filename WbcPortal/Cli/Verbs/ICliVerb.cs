using System.CommandLine;

namespace WbcPortal.Cli.Verbs;

/// <summary>A headless verb: its command-line shape and what it does with the portal's services.</summary>
public interface ICliVerb
{
    string Name { get; }
    Command CreateCommand();
    Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken);
}
