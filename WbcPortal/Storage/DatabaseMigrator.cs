using Microsoft.EntityFrameworkCore;

namespace WbcPortal.Storage;

/// <summary>Creates the data folder and applies pending migrations; run once at start by the web host and by every CLI verb.</summary>
public sealed class DatabaseMigrator(IDbContextFactory<WbcDbContext> contexts, Options.StorageOptions storage, ILogger<DatabaseMigrator> logger)
{
    public async Task<IReadOnlyList<string>> PendingAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
    }

    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(storage.DataDirectoryFullPath);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count > 0)
        {
            logger.LogInformation("Applying {Count} migration(s) to {Database}", pending.Count, storage.DatabaseDescription);
            await db.Database.MigrateAsync(cancellationToken);
        }
    }
}
