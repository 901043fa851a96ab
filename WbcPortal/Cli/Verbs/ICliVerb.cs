using System.CommandLine;

namespace WbcPortal.Cli.Verbs;

/// <summary>A headless verb: its command-line shape and what it does with the portal's services.</summary>
public interface ICliVerb
{
    string Name { get; }

    /// <summary>
    /// Whether the verb writes the data folder. A writing verb takes the folder's exclusive lock
    /// (<see cref="Storage.DataFolderLock"/>) for its whole run; a read-only one neither takes it nor migrates.
    /// </summary>
    bool WritesData => true;

    /// <summary>Whether a writing verb runs the data folder's start-up checks, migrations and staging recovery first.</summary>
    bool PreparesDataFolder => WritesData;

    /// <summary>Whether this invocation writes the data folder: a verb that lists by default and deletes when asked says so per call.</summary>
    bool WritesDataFor(ParseResult parse) => WritesData;

    /// <summary>
    /// Whether this invocation frees space (a deletion): on a full disk it may use the data folder's reserve
    /// (<see cref="Storage.DataFolderSpace"/>), released before the folder's start-up checks so even they have room.
    /// </summary>
    bool FreesSpaceFor(ParseResult parse) => false;
    Command CreateCommand();
    Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken);
}
