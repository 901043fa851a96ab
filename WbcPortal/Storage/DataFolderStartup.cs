using Microsoft.Data.Sqlite;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Options;
using WbcPortal.Services.Datasets;

namespace WbcPortal.Storage;

/// <summary>
/// What the portal and every writing verb do once they hold the data folder's lock, before anything else: refuse a
/// database that is missing, empty or unreadable while stored images exist (starting would treat them all as
/// unreferenced), apply migrations, settle an interrupted import's staging area, and make up the folder's reserve
/// (<see cref="DataFolderSpace"/>) where space allows. Nothing in the store is deleted.
/// </summary>
public sealed class DataFolderStartup(
    DatabaseMigrator migrator,
    DatasetService datasets,
    ImageStore store,
    StorageOptions storage,
    DataFolderSpace space,
    ILogger<DataFolderStartup> logger)
{
    public async Task PrepareAsync(CancellationToken cancellationToken = default)
    {
        CheckDatabase();
        await migrator.MigrateAsync(cancellationToken);
        var recovery = await datasets.RecoverStagingAsync(cancellationToken);
        if (recovery.Promoted + recovery.Removed > 0)
        {
            logger.LogWarning("An interrupted import left staged files: {Promoted} committed ones moved into the store, {Removed} uncommitted ones removed",
                recovery.Promoted, recovery.Removed);
        }
        space.EnsureReserve();
    }

    /// <summary>For a read-only portal: the database must exist and be fully migrated, since it will not be changed.</summary>
    public async Task CheckReadableAsync(CancellationToken cancellationToken = default)
    {
        if (storage.ConnectionString is null && !File.Exists(storage.DatabasePath))
            throw new DataFolderDamagedException($"There is no database at {storage.DatabasePath} to read: a read-only portal needs a data folder that a portal or a CLI verb has used.");
        CheckDatabase();
        var pending = await migrator.PendingAsync(cancellationToken);
        if (pending.Count > 0)
            throw new DataFolderDamagedException($"The database {storage.DatabaseDescription} needs {pending.Count} migration(s) this version brings; a read-only portal changes nothing: start the portal once without --read-only (or run any writing verb).");
    }

    /// <summary>Throws <see cref="DataFolderDamagedException"/> when stored images exist but the database cannot account for them.</summary>
    public void CheckDatabase()
    {
        if (storage.Provider != StorageProvider.Sqlite || storage.ConnectionString is not null) return;
        if (!store.HasStoredFiles()) return;
        string db = storage.DatabasePath;
        string Refuse(string what) =>
            $"The database {db} {what}, but the data folder holds {store.CountStoredFiles():N0} stored images. Nothing was changed. " +
            $"Restore the database and files from a backup (WbcPortal restore BACKUP_FOLDER --data-dir {storage.DataDirectoryFullPath}), " +
            "or, to start afresh, move the data folder aside.";
        if (!File.Exists(db)) throw new DataFolderDamagedException(Refuse("is missing"));
        if (new FileInfo(db).Length == 0) throw new DataFolderDamagedException(Refuse("is empty (0 bytes)"));
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            connection.Open();
            using var tables = connection.CreateCommand();
            tables.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('__EFMigrationsHistory', 'stored_images')";
            if (Convert.ToInt64(tables.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) < 2)
                throw new DataFolderDamagedException(Refuse("holds none of the portal's tables"));
            using var images = connection.CreateCommand();
            images.CommandText = "SELECT count(*) FROM stored_images";
            if (Convert.ToInt64(images.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
                throw new DataFolderDamagedException(Refuse("records no stored image (it was emptied or replaced)"));
        }
        catch (SqliteException ex) when (!Services.UserFacingError.IsDiskFull(ex))
        {
            throw new DataFolderDamagedException(Refuse($"cannot be read ({ex.Message.ReplaceLineEndings(" ")})"));
        }
    }
}
