using Microsoft.Data.Sqlite;
using WbcPortal.Options;

namespace WbcPortal.Storage;

/// <summary>
/// Whether the database has changed since a value was read from it: SQLite's <c>PRAGMA data_version</c> on one read-only
/// connection kept open, which moves whenever any other connection commits: this process's own (pooled) ones, the CLI's
/// beside a read-only portal, a script's. A value cached under a version is therefore never used after a change was
/// committed, wherever it was made, and costs one pragma instead of the queries it saves. No version (null) when the
/// database cannot be read that way (not made yet, unreadable): callers then read the database itself.
/// </summary>
public sealed class DatabaseChanges(StorageOptions storage, ILogger<DatabaseChanges> logger) : IDisposable
{
    private readonly Lock gate = new();
    private SqliteConnection? connection;
    private SqliteCommand? command;
    private bool disposed;

    /// <summary>
    /// The database's change counter as seen now, or null when it cannot be read (then cache nothing). PostgreSQL, shared by
    /// several nodes, has no such counter a node could read for free: null there, every lookup goes to the database.
    /// </summary>
    public long? Version()
    {
        if (storage.Provider != Options.StorageProvider.Sqlite) return null;
        lock (gate)
        {
            if (disposed) return null;
            try
            {
                command ??= Open();
                return (long)command.ExecuteScalar()!;
            }
            catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
            {
                logger.LogDebug("The database's change counter could not be read ({Reason}); lookups go to the database", ex.Message);
                Close();
                return null;
            }
        }
    }

    private SqliteCommand Open()
    {
        // Read-only and unpooled: it never creates the file, never writes, and is never handed to another caller.
        var builder = new SqliteConnectionStringBuilder(storage.EffectiveConnectionString) { Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        if (builder.DataSource is not { Length: > 0 } file || !File.Exists(file)) throw new InvalidOperationException("no database file yet");
        connection = new SqliteConnection(builder.ToString());
        connection.Open();
        var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA data_version";
        pragma.Prepare();
        return pragma;
    }

    private void Close()
    {
        command?.Dispose();
        connection?.Dispose();
        command = null;
        connection = null;
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            Close();
        }
    }
}
