using System.CommandLine;
using WbcPortal.Services.Storage;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>backup DEST</c>: a consistent copy of the data folder (database and files) under its lock.</summary>
public sealed class BackupVerb : ICliVerb
{
    private readonly Argument<string> destination = new("DEST") { Description = "A new or empty folder for the backup" };

    public string Name => "backup";

    public Command CreateCommand() => new(Name, "Copy the data folder's database and files, consistently, into a new folder") { destination };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        if (services.GetRequiredService<Options.StorageOptions>().SharedByNodes)
            throw new CliException($"{Name} copies a SQLite data folder; on PostgreSQL back the database up with pg_dump (and restore with pg_restore) and copy the shared data folder's files (README, Scaling out)", 2);
        var manifest = await services.GetRequiredService<BackupService>().BackupAsync(parse.GetRequiredValue(destination), output.Progress, cancellationToken);
        output.WriteResult(new { backup = Path.GetFullPath(parse.GetRequiredValue(destination)), manifest.StoredImages, manifest.Files, manifest.Bytes, manifest.CreatedAt },
            w => w.WriteLine($"Backed up {manifest.StoredImages:N0} stored images ({manifest.Files:N0} files, {manifest.Bytes / 1048576.0:N1} MB) to {Path.GetFullPath(parse.GetRequiredValue(destination))}"));
        return 0;
    }
}

/// <summary><c>restore BACKUP</c>: puts a backup back into the data folder (an empty one, or one whose database is damaged).</summary>
public sealed class RestoreVerb : ICliVerb
{
    private readonly Argument<string> backup = new("BACKUP") { Description = "A folder made by backup" };

    public string Name => "restore";

    /// <summary>Takes the lock but skips the start-up checks: a damaged database is exactly what it repairs.</summary>
    public bool PreparesDataFolder => false;

    public Command CreateCommand() => new(Name, "Restore a backup into the data folder (refuses a folder whose database holds datasets or runs)") { backup };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        if (services.GetRequiredService<Options.StorageOptions>().SharedByNodes)
            throw new CliException($"{Name} copies a SQLite data folder; on PostgreSQL back the database up with pg_dump (and restore with pg_restore) and copy the shared data folder's files (README, Scaling out)", 2);
        var result = await services.GetRequiredService<BackupService>().RestoreAsync(parse.GetRequiredValue(backup), output.Progress, cancellationToken);
        output.WriteResult(new { dataDir = result.DataDirectory, result.StoredImages, result.FilesCopied, result.FilesPresent, result.DatabaseMovedAside }, w =>
        {
            w.WriteLine($"Restored {result.StoredImages:N0} stored images into {result.DataDirectory} ({result.FilesCopied:N0} files copied; every image row has its file)");
            if (result.DatabaseMovedAside is not null) w.WriteLine($"  the database found there was kept as {result.DatabaseMovedAside}");
        });
        return 0;
    }
}
