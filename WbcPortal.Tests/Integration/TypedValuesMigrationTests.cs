using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// A database made before the typed values (issue 27) migrates and reads through the typed entities, on both engines: the old strings
/// ("cuda", "folders", "round1", "split NAME / PART (flips on)") come back as the types, and migrating down gives the old strings back.
/// </summary>
public sealed class TypedValuesMigrationTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-typed");

    public void Dispose() => data.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The old sources and what each must read as (null: no source, a trainer's stage).</summary>
    private static readonly (string Stage, string Part, string? Old, EvaluationSource? Typed)[] Rows =
    [
        ("untrained", "val", null, null),
        ("round1", "test", null, null),
        ("model", "val", "split cells-grouped / val", EvaluationSource.Split("cells-grouped", "val")),
        ("model", "test", "split odd / val / name / test", EvaluationSource.Split("odd / val / name", "test")),
        ("model", "test", "split cells-grouped / test (flips on)", EvaluationSource.Split("cells-grouped", "test").WithFlips(true)),
        ("model", "folder", "folder /data/new cells", EvaluationSource.Folder("/data/new cells")),
        ("model", "folder", "zip upload 2.zip (flips off)", EvaluationSource.Zip("upload 2.zip").WithFlips(false)),
    ];

    [Fact]
    public Task An_old_sqlite_database_reads_as_typed_values() =>
        RoundTripAsync(WbcDbContextFactory.Create(StorageProvider.Sqlite, $"Data Source={Path.Combine(data.Path, "old.db")};Pooling=false"));

    [Fact]
    public async Task An_old_postgres_database_reads_as_typed_values()
    {
        if (PostgresDatabase.Unavailable() is { } why) Assert.Skip(why);
        await using var pg = await PostgresDatabase.CreateAsync();
        await RoundTripAsync(WbcDbContextFactory.Create(StorageProvider.PostgreSql, pg.ConnectionString));
    }

    private static async Task RoundTripAsync(Func<WbcDbContext> contexts)
    {
        await using (var db = contexts())
        {
            var migrator = db.GetService<IMigrator>();
            var all = db.Database.GetMigrations().ToList();
            string typed = all.Single(m => m.EndsWith("_TypedEvaluationSources", StringComparison.Ordinal));
            string before = all[all.IndexOf(typed) - 1];
            await migrator.MigrateAsync(before, Ct);
            await InsertOldRowsAsync(db);
            await db.Database.MigrateAsync(Ct);
        }

        await using (var db = contexts())
        {
            var split = await db.Splits.SingleAsync(Ct);
            Assert.Equal(SplitStrategy.Folders, split.Strategy);
            var run = await db.Runs.SingleAsync(Ct);
            Assert.Equal(ComputeDevice.Cuda, run.Device);
            var evaluations = await db.RunEvaluations.OrderBy(e => e.Id).ToListAsync(Ct);
            Assert.Equal(Rows.Select(r => TrainingStages.Parse(r.Stage)), evaluations.Select(e => e.Stage));
            Assert.Equal(Rows.Select(r => r.Typed), evaluations.Select(e => e.Source));
            Assert.Equal(Rows.Select(r => r.Old ?? r.Part), evaluations.Select(e => e.SourceTitle));
            // A query on the typed columns finds the flipped evaluation, and only it.
            var flipped = await db.RunEvaluations.WithSource(EvaluationSource.Split("cells-grouped", "test").WithFlips(true)).SingleAsync(Ct);
            Assert.Equal(evaluations[4].Id, flipped.Id);
            Assert.Empty(await db.RunEvaluations.WithSource(EvaluationSource.Split("cells-grouped", "test")).ToListAsync(Ct));
            Assert.Equal(2, await db.RunEvaluations.CountAsync(e => e.Stage == TrainingStage.Model && e.SourceKind == EvaluationSourceKind.Split && e.SourceName == "cells-grouped", Ct));
        }

        // Down again: the old formatted strings come back as they were.
        await using (var db = contexts())
        {
            var all = db.Database.GetMigrations().ToList();
            string before = all[all.IndexOf(all.Single(m => m.EndsWith("_TypedEvaluationSources", StringComparison.Ordinal))) - 1];
            await db.GetService<IMigrator>().MigrateAsync(before, Ct);
            var sources = await db.Database.SqlQueryRaw<string?>("SELECT \"Source\" AS \"Value\" FROM \"run_evaluations\" ORDER BY \"Id\"").ToListAsync(Ct);
            Assert.Equal(Rows.Select(r => r.Old), sources);
        }
    }

    private static async Task InsertOldRowsAsync(WbcDbContext db)
    {
        await db.Database.ExecuteSqlRawAsync("INSERT INTO \"datasets\" (\"Id\", \"Name\", \"CreatedAt\", \"GroupCount\", \"Version\") VALUES (1, 'cells', 0, 0, 1)", Ct);
        await db.Database.ExecuteSqlRawAsync("INSERT INTO \"splits\" (\"Id\", \"DatasetId\", \"Name\", \"Strategy\", \"Ratios\", \"Seed\", \"CreatedAt\", \"ReportJson\") " +
                                             "VALUES (1, 1, 'cells-grouped', 'folders', '0.7,0.15,0.15', 1, 0, '{{}}')", Ct);
        await db.Database.ExecuteSqlRawAsync("INSERT INTO \"runs\" (\"Id\", \"Name\", \"SplitId\", \"ConfigJson\", \"Status\", \"Device\", \"Seed\", \"CreatedAt\", \"TakeOvers\", \"Seconds\", \"CheckpointDirectory\") " +
                                             "VALUES (1, 'r', 1, '{{}}', 'Succeeded', 'cuda', 1, 0, 0, 1.5, 'runs/1')", Ct);
        int id = 1;
        foreach (var (stage, part, old, _) in Rows)
        {
            const string insert = "INSERT INTO \"run_evaluations\" (\"Id\", \"RunId\", \"Stage\", \"Part\", \"Accuracy\", \"MacroF1\", \"MetricsJson\", \"Source\") ";
            if (old is null) await db.Database.ExecuteSqlRawAsync(insert + "VALUES ({0}, 1, {1}, {2}, 0.5, 0.5, '{{}}', NULL)", [id++, stage, part], Ct);
            else await db.Database.ExecuteSqlRawAsync(insert + "VALUES ({0}, 1, {1}, {2}, 0.5, 0.5, '{{}}', {3})", [id++, stage, part, old], Ct);
        }
    }
}
