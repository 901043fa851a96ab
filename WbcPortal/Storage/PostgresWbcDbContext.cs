using Microsoft.EntityFrameworkCore;

namespace WbcPortal.Storage;

/// <summary>
/// The portal's database on PostgreSQL: the same model as <see cref="WbcDbContext"/>, its own migration set
/// (<c>Storage/Migrations/PostgreSql</c>), since a migration carries its provider's column types. Every change to the model
/// gets a migration of the same name in both sets (<c>DatabaseProvidersTests</c> checks that neither set lags the model).
/// </summary>
public sealed class PostgresWbcDbContext(DbContextOptions<PostgresWbcDbContext> options) : WbcDbContext(options);
