using Microsoft.EntityFrameworkCore;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Storage;

public sealed class WbcDbContext(DbContextOptions<WbcDbContext> options) : DbContext(options)
{
    public DbSet<RegisteredModel> Models => Set<RegisteredModel>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<RegisteredModel>(e =>
        {
            e.ToTable("models");
            e.Property(m => m.Name).HasMaxLength(200);
            e.HasIndex(m => m.Name).IsUnique();
            e.Property(m => m.OnnxPath).HasMaxLength(1000);
            e.Property(m => m.Labels).HasMaxLength(2000);
        });
    }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite cannot order or compare DateTimeOffset; store UTC ticks instead.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToUtcTicksConverter>();
    }
}

internal sealed class DateTimeOffsetToUtcTicksConverter()
    : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTimeOffset, long>(
        v => v.UtcTicks,
        v => new DateTimeOffset(v, TimeSpan.Zero));
