using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;

namespace WbcPortal.Storage;

/// <summary>
/// Opens the portal's database on the configured provider (<c>Storage:Provider</c>): a <see cref="WbcDbContext"/> on SQLite,
/// a <see cref="PostgresWbcDbContext"/> on PostgreSQL. Services ask for <c>IDbContextFactory&lt;WbcDbContext&gt;</c> and never
/// know which.
/// </summary>
public sealed class WbcDbContextFactory : IDbContextFactory<WbcDbContext>
{
    private readonly Func<WbcDbContext> create;

    public WbcDbContextFactory(StorageOptions storage)
    {
        create = Create(storage.Provider, storage.EffectiveConnectionString);
    }

    public WbcDbContext CreateDbContext() => create();

    /// <summary>A context on <paramref name="connectionString"/> (also for the signals a read-only portal writes, on the writable string).</summary>
    public static Func<WbcDbContext> Create(StorageProvider provider, string connectionString)
    {
        switch (provider)
        {
            case StorageProvider.Sqlite:
            {
                var options = new DbContextOptionsBuilder<WbcDbContext>().UseSqlite(connectionString).Options;
                return () => new WbcDbContext(options);
            }
            case StorageProvider.PostgreSql:
            {
                var options = new DbContextOptionsBuilder<PostgresWbcDbContext>().UseNpgsql(connectionString).Options;
                return () => new PostgresWbcDbContext(options);
            }
            default:
                throw new InvalidOperationException($"Storage:Provider '{provider}' is not supported.");
        }
    }
}
