using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace WbcPortal.Storage;

/// <summary>Lets <c>dotnet ef migrations add</c> build the context without starting the portal.</summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<WbcDbContext>
{
    public WbcDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<WbcDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
