using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

public enum StorageProvider
{
    Sqlite,
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

    /// <summary>A full connection string, overriding the default (a SQLite file in the data folder).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// A portal that only reads: it takes no lock on the data folder, migrates and sweeps nothing, runs no jobs, and opens
    /// the database read-only, so it can sit beside the process that holds the folder (a CLI import or training) to
    /// browse and watch. Set with <c>--read-only</c>.
    /// </summary>
    public bool ReadOnly { get; set; }

    public string DataDirectoryFullPath => Path.GetFullPath(DataDirectory);

    public string DatabasePath => Path.Combine(DataDirectoryFullPath, "wbcportal.db");

    public string EffectiveConnectionString => ConnectionString ?? (ReadOnly ? $"Data Source={DatabasePath};Mode=ReadOnly" : WritableConnectionString);

    /// <summary>
    /// The database opened for writing, whatever <see cref="ReadOnly"/> says: only for signals to the process that holds
    /// the folder (a Stop request), never for data.
    /// </summary>
    public string WritableConnectionString => ConnectionString ?? $"Data Source={DatabasePath}";

    /// <summary>The database as people should read it: a path for SQLite, never a password.</summary>
    public string DatabaseDescription => Provider switch
    {
        StorageProvider.Sqlite => ConnectionString is null ? $"sqlite:{DatabasePath}" : "sqlite:(custom connection string)",
        _ => Provider.ToString(),
    };
}
