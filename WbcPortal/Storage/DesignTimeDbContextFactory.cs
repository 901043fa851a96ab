using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace WbcPortal.Storage;

/// <summary>Lets <c>dotnet ef migrations add … --context WbcDbContext</c> build the context without starting the portal.</summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<WbcDbContext>
{
    public WbcDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<WbcDbContext>().UseSqlite("Data Source=design-time.db").Options);
}

/// <summary>
/// The same for PostgreSQL's migration set (<c>--context PostgresWbcDbContext -o Storage/Migrations/PostgreSql</c>); making a
/// migration needs no server.
/// </summary>
internal sealed class DesignTimePostgresDbContextFactory : IDesignTimeDbContextFactory<PostgresWbcDbContext>
{
    public PostgresWbcDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresWbcDbContext>().UseNpgsql("Host=localhost;Database=design_time").Options);
}
