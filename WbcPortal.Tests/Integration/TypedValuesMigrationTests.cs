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
/// ("cuda", "folders", "round1", "split NAME / PART (flips on)", a member's "val", an evaluation's "folder") come back as the types
/// (a folder or zip evaluation with no part), and migrating down gives the old strings back.
/// </summary>
public sealed class TypedValuesMigrationTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-typed");

    public void Dispose() => data.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The old sources and what each must read as (null: no source, a trainer's stage).</summary>
    private static readonly (string Stage, string Part, string? Old, EvaluationSource? Typed, SplitPart? TypedPart)[] Rows =
    [
        ("untrained", "val", null, null, SplitPart.Validation),
        ("round1", "test", null, null, SplitPart.Test),
        ("model", "val", "split cells-grouped / val", EvaluationSource.Split("cells-grouped", SplitPart.Validation), SplitPart.Validation),
        ("model", "test", "split odd / val / name / test", EvaluationSource.Split("odd / val / name", SplitPart.Test), SplitPart.Test),
        ("model", "test", "split cells-grouped / test (flips on)", EvaluationSource.Split("cells-grouped", SplitPart.Test).WithFlips(true), SplitPart.Test),
        ("model", "folder", "folder /data/new cells", EvaluationSource.Folder("/data/new cells"), null),
        ("model", "folder", "zip upload 2.zip (flips off)", EvaluationSource.Zip("upload 2.zip").WithFlips(false), null),
    ];

    /// <summary>Split members as older databases stored them, by dataset image id.</summary>
    private static readonly (int Image, string Part, SplitPart Typed)[] Members = [(1, "train", SplitPart.Train), (2, "val", SplitPart.Validation), (3, "test", SplitPart.Test)];

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
            // The part: a split part, or none for a folder or zip evaluation, printed "folder" as before.
            Assert.Equal(Rows.Select(r => r.TypedPart), evaluations.Select(e => e.Part));
            Assert.Equal(Rows.Select(r => r.Part), evaluations.Select(e => RunEvaluationQueries.PartName(e.Part)));
            Assert.Equal(2, await db.RunEvaluations.CountAsync(e => e.Part == null, Ct));
            Assert.Equal(2, await db.RunEvaluations.CountAsync(e => e.Part == SplitPart.Validation, Ct));
            Assert.Equal([SplitPart.Validation, SplitPart.Test, SplitPart.Validation, SplitPart.Test, SplitPart.Test], evaluations.Where(e => e.Part is not null).Select(e => e.SourcePart ?? e.Part!.Value));
            var members = await db.SplitMembers.OrderBy(m => m.DatasetImageId).ToListAsync(Ct);
            Assert.Equal(Members.Select(m => m.Typed), members.Select(m => m.Part));
            Assert.Equal(2, (await db.SplitMembers.SingleAsync(m => m.Part == SplitPart.Validation, Ct)).DatasetImageId);
            // A query on the typed columns finds the flipped evaluation, and only it.
            var flipped = await db.RunEvaluations.WithSource(EvaluationSource.Split("cells-grouped", SplitPart.Test).WithFlips(true)).SingleAsync(Ct);
            Assert.Equal(evaluations[4].Id, flipped.Id);
            Assert.Empty(await db.RunEvaluations.WithSource(EvaluationSource.Split("cells-grouped", SplitPart.Test)).ToListAsync(Ct));
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
            var parts = await db.Database.SqlQueryRaw<string>("SELECT \"Part\" AS \"Value\" FROM \"run_evaluations\" ORDER BY \"Id\"").ToListAsync(Ct);
            Assert.Equal(Rows.Select(r => r.Part), parts);
            var memberParts = await db.Database.SqlQueryRaw<string>("SELECT \"Part\" AS \"Value\" FROM \"split_members\" ORDER BY \"DatasetImageId\"").ToListAsync(Ct);
            Assert.Equal(Members.Select(m => m.Part), memberParts);
        }
    }

    private static async Task InsertOldRowsAsync(WbcDbContext db)
    {
        await db.Database.ExecuteSqlRawAsync("INSERT INTO \"datasets\" (\"Id\", \"Name\", \"CreatedAt\", \"GroupCount\", \"Version\") VALUES (1, 'cells', 0, 0, 1)", Ct);
        await db.Database.ExecuteSqlRawAsync("INSERT INTO \"splits\" (\"Id\", \"DatasetId\", \"Name\", \"Strategy\", \"Ratios\", \"Seed\", \"CreatedAt\", \"ReportJson\") " +
                                             "VALUES (1, 1, 'cells-grouped', 'folders', '0.7,0.15,0.15', 1, 0, '{{}}')", Ct);
        await db.Database.ExecuteSqlRawAsync("INSERT INTO \"runs\" (\"Id\", \"Name\", \"SplitId\", \"ConfigJson\", \"Status\", \"Device\", \"Seed\", \"CreatedAt\", \"TakeOvers\", \"Seconds\", \"CheckpointDirectory\") " +
                                             "VALUES (1, 'r', 1, '{{}}', 'Succeeded', 'cuda', 1, 0, 0, 1.5, 'runs/1')", Ct);
        foreach (var (image, part, _) in Members)
        {
            string sha = new string((char)('a' + image), 64);
            await db.Database.ExecuteSqlRawAsync("INSERT INTO \"stored_images\" (\"Sha256\", \"Bytes\", \"Format\", \"Height\", \"Width\") VALUES ({0}, 10, 'png', 1, 1)", [sha], Ct);
            await db.Database.ExecuteSqlRawAsync("INSERT INTO \"dataset_images\" (\"Id\", \"DatasetId\", \"ClassName\", \"RelativePath\", \"Sha256\") VALUES ({0}, 1, 'A', {1}, {2})", [image, $"A/{image}.png", sha], Ct);
            await db.Database.ExecuteSqlRawAsync("INSERT INTO \"split_members\" (\"SplitId\", \"DatasetImageId\", \"Part\") VALUES (1, {0}, {1})", [image, part], Ct);
        }
        int id = 1;
        foreach (var (stage, part, old, _, _) in Rows)
        {
            const string insert = "INSERT INTO \"run_evaluations\" (\"Id\", \"RunId\", \"Stage\", \"Part\", \"Accuracy\", \"MacroF1\", \"MetricsJson\", \"Source\") ";
            if (old is null) await db.Database.ExecuteSqlRawAsync(insert + "VALUES ({0}, 1, {1}, {2}, 0.5, 0.5, '{{}}', NULL)", [id++, stage, part], Ct);
            else await db.Database.ExecuteSqlRawAsync(insert + "VALUES ({0}, 1, {1}, {2}, 0.5, 0.5, '{{}}', {3})", [id++, stage, part, old], Ct);
        }
    }
}
