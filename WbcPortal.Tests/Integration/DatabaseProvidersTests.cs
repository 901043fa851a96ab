using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// The portal's database on both engines (issue 27): the SQLite and PostgreSQL migration sets both bring the database to the
/// model, to the same tables and columns, and keep the audit append-only.
/// </summary>
public sealed class DatabaseProvidersTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-providers");

    public void Dispose() => data.Dispose();

    [Fact]
    public void Neither_migration_set_lags_the_model()
    {
        using var sqlite = WbcDbContextFactory.Create(StorageProvider.Sqlite, $"Data Source={Path.Combine(data.Path, "x.db")}")();
        using var postgres = WbcDbContextFactory.Create(StorageProvider.PostgreSql, "Host=localhost;Database=unused")();
        Assert.IsType<PostgresWbcDbContext>(postgres);
        // A model change with a migration in one set only fails here: `dotnet ef migrations add NAME --context …` for both.
        Assert.False(sqlite.Database.HasPendingModelChanges(), "the model has changes no SQLite migration makes");
        Assert.False(postgres.Database.HasPendingModelChanges(), "the model has changes no PostgreSQL migration makes");
        Assert.NotEmpty(sqlite.Database.GetMigrations());
        Assert.NotEmpty(postgres.Database.GetMigrations());
        // Each set is its own: none of one engine's migrations is taken for the other's.
        Assert.Empty(sqlite.Database.GetMigrations().Intersect(postgres.Database.GetMigrations()));
    }

    [Fact]
    public async Task Both_engines_migrate_to_the_same_tables_and_columns()
    {
        if (PostgresDatabase.Unavailable() is { } why) Assert.Skip(why);
        await using var pg = await PostgresDatabase.CreateAsync();
        var sqlitePath = Path.Combine(data.Path, "wbcportal.db");
        await using (var db = WbcDbContextFactory.Create(StorageProvider.Sqlite, $"Data Source={sqlitePath}")()) await db.Database.MigrateAsync(TestContext.Current.CancellationToken);
        await using (var db = WbcDbContextFactory.Create(StorageProvider.PostgreSql, pg.ConnectionString)()) await db.Database.MigrateAsync(TestContext.Current.CancellationToken);

        var onSqlite = new SortedSet<string>(StringComparer.Ordinal);
        await using (var connection = new SqliteConnection($"Data Source={sqlitePath};Pooling=false"))
        {
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__EFMigrationsLock'";
            await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            while (await reader.ReadAsync(TestContext.Current.CancellationToken)) onSqlite.Add($"{reader.GetString(0)}.{reader.GetString(1)}");
        }
        var onPostgres = new SortedSet<string>(
            (await pg.RowsAsync("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__EFMigrationsLock'"))
                .Select(r => $"{r[0]}.{r[1]}"), StringComparer.Ordinal);
        Assert.True(onSqlite.Count > 150, $"only {onSqlite.Count} columns on SQLite");
        Assert.Equal(onSqlite, onPostgres);
    }

    [Fact]
    public async Task The_audit_stays_append_only_on_postgres()
    {
        if (PostgresDatabase.Unavailable() is { } why) Assert.Skip(why);
        await using var pg = await PostgresDatabase.CreateAsync();
        await using (var db = WbcDbContextFactory.Create(StorageProvider.PostgreSql, pg.ConnectionString)())
        {
            await db.Database.MigrateAsync(TestContext.Current.CancellationToken);
            db.AuditEntries.Add(new WbcPortal.Storage.Entities.AuditEntry { Actor = "test", Action = "probe", Target = "t", At = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }
        var change = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => pg.ScalarAsync<int>("UPDATE audit_entries SET \"Actor\" = 'someone else'"));
        Assert.Contains("append-only", change.MessageText);
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => pg.ScalarAsync<int>("DELETE FROM audit_entries"));
        Assert.Equal(1L, await pg.ScalarAsync<long>("SELECT count(*) FROM audit_entries WHERE \"Actor\" = 'test'"));
    }
}
