using WbcPortal.Services.Accounts;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Services.Storage;

/// <summary>What a backup holds, written as <c>backup.json</c> beside its copy of the database.</summary>
public sealed record BackupManifest(string Portal, DateTimeOffset CreatedAt, string SourceDataDirectory, long StoredImages, int Files, long Bytes);

public sealed record RestoreResult(string DataDirectory, long StoredImages, int FilesCopied, int FilesPresent, string? DatabaseMovedAside);

/// <summary>
/// Consistent backups of a data folder and their restore. Both run under the data folder's exclusive lock (the CLI
/// verbs take it), so no import or run writes while they copy: the database is copied with SQLite's online backup
/// API and the content-addressed images, thumbnails and run folders (checkpoints, models) beside it. A restore never
/// overwrites a live database: it refuses a folder whose database holds datasets or runs, and moves a damaged or
/// empty one aside instead of deleting it.
/// </summary>
public sealed class BackupService(StorageOptions storage, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public const string ManifestFile = "backup.json";
    private static readonly string[] Folders = ["images", "thumbs", "runs"];

    [Demands(PortalAction.ManageStorage)]
    public async Task<BackupManifest> BackupAsync(string destination, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.ManageStorage);
        RequireSqliteFile();
        destination = Path.GetFullPath(destination);
        if (Path.GetFullPath(destination).StartsWith(storage.DataDirectoryFullPath + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException("A backup cannot go inside the data folder it copies.");
        if (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any())
            throw new ArgumentException($"{destination} is not empty: a backup goes into a new or empty folder.");
        if (!File.Exists(storage.DatabasePath)) throw new ArgumentException($"There is nothing to back up: {storage.DatabasePath} does not exist.");
        Directory.CreateDirectory(destination);

        progress?.Report("copying the database (SQLite online backup)");
        string dbCopy = Path.Combine(destination, Path.GetFileName(storage.DatabasePath));
        await using (var source = Open(storage.DatabasePath, SqliteOpenMode.ReadOnly))
        await using (var target = Open(dbCopy, SqliteOpenMode.ReadWriteCreate))
        {
            source.BackupDatabase(target);
        }
        long storedImages = await CountStoredImagesAsync(dbCopy, cancellationToken);

        int files = 0;
        long bytes = new FileInfo(dbCopy).Length;
        foreach (var folder in Folders)
        {
            var (n, b) = CopyTree(Path.Combine(storage.DataDirectoryFullPath, folder), Path.Combine(destination, folder), overwrite: false, progress, cancellationToken);
            files += n;
            bytes += b;
        }
        var manifest = new BackupManifest(SystemStatusService.Version, DateTimeOffset.UtcNow, storage.DataDirectoryFullPath, storedImages, files, bytes);
        await File.WriteAllTextAsync(Path.Combine(destination, ManifestFile), JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        await audit.RecordAsync(AuditAction.Backup, destination, null, cancellationToken: CancellationToken.None);
        return manifest;
    }

    [Demands(PortalAction.ManageStorage)]
    public async Task<RestoreResult> RestoreAsync(string backup, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.ManageStorage);
        RequireSqliteFile();
        backup = Path.GetFullPath(backup);
        string backupDb = Path.Combine(backup, Path.GetFileName(storage.DatabasePath));
        if (!File.Exists(Path.Combine(backup, ManifestFile)) || !File.Exists(backupDb))
            throw new ArgumentException($"{backup} is not a WbcPortal backup (it needs {ManifestFile} and {Path.GetFileName(backupDb)}).");
        long backupImages = await CountStoredImagesAsync(backupDb, cancellationToken);

        string db = storage.DatabasePath;
        string? movedAside = null;
        if (File.Exists(db) && new FileInfo(db).Length > 0)
        {
            var (datasets, runs) = await CountLiveRowsAsync(db, cancellationToken);
            if (datasets + runs > 0)
                throw new ArgumentException($"The data folder's database holds {datasets} dataset(s) and {runs} run(s): restore into an empty folder (--data-dir NEW) or move this one aside first. Nothing was changed.");
        }
        Directory.CreateDirectory(storage.DataDirectoryFullPath);
        SqliteConnection.ClearAllPools();
        if (File.Exists(db))
        {
            movedAside = $"{db}.before-restore-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
            File.Move(db, movedAside);
            foreach (var side in new[] { "-wal", "-shm" })
            {
                if (File.Exists(db + side)) File.Move(db + side, movedAside + side);
            }
        }

        progress?.Report("restoring the database");
        string temp = db + ".restoring.tmp";
        File.Copy(backupDb, temp, overwrite: true);
        File.Move(temp, db);

        int copied = 0, present = 0;
        foreach (var folder in Folders)
        {
            var (n, _) = CopyTree(Path.Combine(backup, folder), Path.Combine(storage.DataDirectoryFullPath, folder), overwrite: false, progress, cancellationToken);
            copied += n;
        }
        // Every row's file must be there now: the restore is checked, not assumed.
        await using (var connection = Open(db, SqliteOpenMode.ReadOnly))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT Sha256, Format FROM stored_images";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var store = new Engine.Datasets.Storage.ImageStore(storage.DataDirectoryFullPath);
            var missing = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                if (File.Exists(store.ImagePath(reader.GetString(0), reader.GetString(1)))) present++;
                else missing++;
            }
            if (missing > 0) throw new InvalidDataException($"The restored database references {missing:N0} images the backup does not hold: the backup is incomplete.");
        }
        await audit.RecordAsync(AuditAction.Restore, backup, null, cancellationToken: CancellationToken.None);
        return new RestoreResult(storage.DataDirectoryFullPath, backupImages, copied, present, movedAside);
    }

    private void RequireSqliteFile()
    {
        if (storage.Provider != StorageProvider.Sqlite || storage.ConnectionString is not null)
            throw new InvalidOperationException("backup and restore handle the embedded SQLite database in the data folder; back up a custom database with its own tools.");
    }

    private static SqliteConnection Open(string path, SqliteOpenMode mode)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static async Task<long> CountStoredImagesAsync(string db, CancellationToken cancellationToken)
    {
        await using var connection = Open(db, SqliteOpenMode.ReadOnly);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM stored_images";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<(long Datasets, long Runs)> CountLiveRowsAsync(string db, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = Open(db, SqliteOpenMode.ReadOnly);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT (SELECT count(*) FROM datasets), (SELECT count(*) FROM runs)";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return (reader.GetInt64(0), reader.GetInt64(1));
        }
        catch (SqliteException)
        {
            return (0, 0); // unreadable or without tables: damaged, so it is moved aside, never deleted
        }
    }

    private static (int Files, long Bytes) CopyTree(string from, string to, bool overwrite, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(from)) return (0, 0);
        int files = 0;
        long bytes = 0;
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (file.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            if (!overwrite && File.Exists(target)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            string temp = target + ".tmp";
            File.Copy(file, temp, overwrite: true);
            File.Move(temp, target, overwrite);
            files++;
            bytes += new FileInfo(target).Length;
            if (files % 2000 == 0) progress?.Report($"  {files:N0} files copied from {Path.GetFileName(from)}/");
        }
        return (files, bytes);
    }
}
