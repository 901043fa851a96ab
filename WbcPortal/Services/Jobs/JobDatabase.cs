using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Services.Jobs;

/// <summary>
/// Where the job records live, the one storage switch of the job system: the portal's database, or, on a read-only
/// portal (which writes nothing to its database), a database in this process's memory with the same jobs table. The
/// board (<see cref="PortalJobs"/>) and the runner (<see cref="JobRunner"/>) are the same code either way; a read-only
/// portal's jobs are its own and are gone when it stops.
/// </summary>
public sealed class JobDatabase(IDbContextFactory<WbcDbContext> portal, StorageOptions storage) : IDbContextFactory<WbcDbContext>, IDisposable
{
    private readonly Lock gate = new();
    private SqliteConnection? keepAlive;
    private DbContextOptions<WbcDbContext>? memory;
    private bool disposed;

    /// <summary>True on a read-only portal: the records are in memory only.</summary>
    public bool InMemory => storage.ReadOnly;

    public WbcDbContext CreateDbContext() => InMemory ? new WbcDbContext(MemoryOptions()) : portal.CreateDbContext();

    public Task<WbcDbContext> CreateDbContextAsync(CancellationToken cancellationToken = default) =>
        InMemory ? Task.FromResult(new WbcDbContext(MemoryOptions())) : portal.CreateDbContextAsync(cancellationToken);

    private DbContextOptions<WbcDbContext> MemoryOptions()
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (memory is not null) return memory;
            // A named in-memory database shared by this process's connections; it lives while one of them is open.
            string connection = new SqliteConnectionStringBuilder
            {
                DataSource = $"wbc-jobs-{Guid.NewGuid():N}",
                Mode = SqliteOpenMode.Memory,
                Cache = SqliteCacheMode.Shared,
            }.ToString();
            keepAlive = new SqliteConnection(connection);
            keepAlive.Open();
            var options = new DbContextOptionsBuilder<WbcDbContext>().UseSqlite(connection).Options;
            using (var db = new WbcDbContext(options)) db.Database.EnsureCreated();
            return memory = options;
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            keepAlive?.Dispose();
            keepAlive = null;
        }
    }
}
