using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

public enum StorageProvider
{
    /// <summary>One file in the data folder; one process owns the folder (its OS lock). The embedded default.</summary>
    Sqlite,

    /// <summary>
    /// A PostgreSQL server (<see cref="StorageOptions.ConnectionString"/>) for the portal's database and the job queue: several
    /// nodes (web nodes and <c>worker</c>s) share it and the data folder's files; they coordinate through database leases.
    /// </summary>
    PostgreSql,
}

/// <summary>Where the portal keeps its database, images, checkpoints and models. Section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The database provider. SQLite is embedded and needs no service.</summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>The data folder; a relative path is taken from the working directory.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// A full connection string: overrides the default SQLite file in the data folder; required for PostgreSQL
    /// (<c>Host=db;Database=wbcportal;Username=wbc;Password=…</c>).
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Several processes share this data folder and database (PostgreSQL): no process owns the folder; work is claimed
    /// row by row (job and run leases) instead of under the folder's OS lock.
    /// </summary>
    public bool SharedByNodes => Provider == StorageProvider.PostgreSql;

    /// <summary>
    /// A portal that only reads: it takes no lock on the data folder, migrates and sweeps nothing, runs no jobs, and opens
    /// the database read-only, so it can sit beside the process that holds the folder (a CLI import or training) to
    /// browse and watch. Set with <c>--read-only</c>.
    /// </summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// Below this much free space on the data folder's volume at start, the portal starts read-only and says why (so a
    /// full disk leaves a portal to browse and a way out, not a crash). 0 turns the check off.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MinFreeMegabytes { get; set; } = 16;

    /// <summary>
    /// The size of <c>.wbcportal.reserve</c>, a file of filler kept in the data folder (made when missing and space
    /// allows). The <c>storage --delete-…</c> verbs and the Storage page release it first when the disk is full, so the
    /// database has room for its journal and the deletion succeeds; it is made again afterwards. 0: no reserve.
    /// </summary>
    [Range(0, 1_000_000)]
    public int ReserveMegabytes { get; set; } = 32;

    /// <summary>
    /// Set by the portal itself, never from configuration: it was not asked to be read-only but started read-only
    /// because its data folder's disk is full.
    /// </summary>
    public Storage.DiskFullStart? DiskFull { get; internal set; }

    /// <summary>Why this portal is read-only, when it is for a reason other than <c>--read-only</c>; null otherwise.</summary>
    public string? ReadOnlyReason => DiskFull?.Text;

    /// <summary>
    /// The one sentence a change refused by a read-only portal gives: the reason it is read-only when it was not asked
    /// to be (a full disk), else <paramref name="elsewhere"/> (where the change is made instead).
    /// </summary>
    public string ReadOnlyRefusal(string elsewhere) => ReadOnlyReason ?? $"This portal is read-only: {elsewhere}.";

    public long MinFreeBytes => MinFreeMegabytes * 1024L * 1024;

    public long ReserveBytes => ReserveMegabytes * 1024L * 1024;

    public string DataDirectoryFullPath => Path.GetFullPath(DataDirectory);

    public string DatabasePath => Path.Combine(DataDirectoryFullPath, "wbcportal.db");

    public string EffectiveConnectionString => Provider switch
    {
        // A read-only PostgreSQL session: the server refuses any write, as SQLite's read-only mode does.
        StorageProvider.PostgreSql => ReadOnly ? $"{RequiredConnectionString};Options=-c default_transaction_read_only=on" : RequiredConnectionString,
        _ => ConnectionString ?? (ReadOnly ? $"Data Source={DatabasePath};Mode=ReadOnly" : WritableConnectionString),
    };

    private string RequiredConnectionString => ConnectionString
        ?? throw new InvalidOperationException("Storage:Provider is PostgreSql but Storage:ConnectionString is not set.");

    /// <summary>
    /// The database opened for writing, whatever <see cref="ReadOnly"/> says: only for signals to the process that holds
    /// the folder (a Stop request), never for data.
    /// </summary>
    public string WritableConnectionString => Provider == StorageProvider.PostgreSql ? RequiredConnectionString : ConnectionString ?? $"Data Source={DatabasePath}";

    /// <summary>The database as people should read it: a path for SQLite, never a password.</summary>
    public string DatabaseDescription => Provider switch
    {
        StorageProvider.Sqlite => ConnectionString is null ? $"sqlite:{DatabasePath}" : "sqlite:(custom connection string)",
        StorageProvider.PostgreSql => DescribePostgres(ConnectionString),
        _ => Provider.ToString(),
    };

    private static string DescribePostgres(string? connectionString)
    {
        if (connectionString is null) return "postgresql:(no connection string)";
        try
        {
            var b = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return $"postgresql://{b.Host}:{b.Port}/{b.Database}";
        }
        catch (ArgumentException)
        {
            return "postgresql:(connection string not readable)";
        }
    }
}
