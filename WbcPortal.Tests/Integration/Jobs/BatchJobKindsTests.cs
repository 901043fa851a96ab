using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Smears;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Jobs;

/// <summary>
/// Issue 27 item 1: Classify and Smears batches are kinds of the one job system, on a writable portal (Hangfire on SQLite,
/// the batch stores in the data folder) and on a read-only one (the same board and runner in process, the records in
/// memory, nothing written). Each kind is queued, survives a restart while queued, runs with its progress, is cancelled
/// (queued, and while running: held on the real decode budget) and fails with its reason on the job and with the batch.
/// A real exported model, the real detector, real SQLite; the images are made here.
/// </summary>
public sealed class BatchJobKindsTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-batch-jobs");

    public void Dispose() => data.Dispose();

    private async Task<ServiceProvider> PortalAsync(bool readOnly = false)
    {
        var settings = new Dictionary<string, string?> { ["Storage:ReadOnly"] = readOnly ? "true" : "false" };
        var services = new ServiceCollection().AddPortalCoreForTests(data.Path, settings).AddSingleton(TimeProvider.System).AddJobsForTests(data.Path).BuildServiceProvider();
        if (!readOnly) await services.MigrateAsync();
        return services;
    }

    private string ModelPath => Path.Combine(data.Path, "models", "m.onnx");

    private async Task<ModelChoice> ModelAsync(ServiceProvider services)
    {
        if (!File.Exists(ModelPath))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(ModelPath)!);
            var metadata = new ClassifierOnnxMetadata(ClassifierOnnxExportFixture.Labels, 64, 64, null, new CellCropSpec { Enabled = true, Size = 0.6 }, 1.3, true);
            File.WriteAllBytes(ModelPath, fixture.Exporter.Export(fixture.Model, metadata));
            await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
            db.Models.Add(new RegisteredModel { Name = "m", OnnxPath = "models/m.onnx", Labels = string.Join(",", ClassifierOnnxExportFixture.Labels), InputHeight = 64, InputWidth = 64, IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        return (await services.GetRequiredService<PredictionService>().ActiveAsync(Ct))!;
    }

    private static IReadOnlyList<PredictionInput> Cells(int count, int seed) => Enumerable.Range(0, count).Select(i =>
    {
        using var image = TestImages.Smear(160, 120, seed + i);
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        return new PredictionInput($"cell-{seed + i}.png", ms.ToArray());
    }).Append(new PredictionInput("broken.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3])).ToList();

    /// <summary>Waits for a condition the work reaches (never for time itself); fails the test naming what it waited for.</summary>
    private static async Task<T> UntilAsync<T>(Func<T?> read, Func<T, bool> done, string what) where T : class
    {
        for (int i = 0; i < 1200; i++)
        {
            if (read() is { } value && done(value)) return value;
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException($"Waited a minute for {what}.");
    }

    /// <summary>Every view of jobs of <paramref name="kind"/> the board publishes, in order.</summary>
    private static (ConcurrentQueue<JobView> Seen, IDisposable Subscription) Watch(PortalJobs board, JobKind kind)
    {
        var seen = new ConcurrentQueue<JobView>();
        return (seen, board.Subscribe(v => { if (v.Kind == kind) seen.Enqueue(v); }));
    }

    [Fact]
    public async Task A_classify_batch_queued_before_a_stop_runs_after_the_restart_with_its_progress_and_answers()
    {
        string id;
        var inputs = Cells(3, 10);
        await using (var first = await PortalAsync())
        {
            // No worker yet: the batch is stored and its job queued, nothing more.
            var queued = await first.GetRequiredService<ClassifyJobs>().EnqueueAsync(await ModelAsync(first), inputs, [], Ct);
            id = queued.Id;
            Assert.Equal(JobState.Queued, queued.State);
            Assert.Equal(JobKind.ClassifyBatch, queued.Run!.Kind);
            Assert.Equal(id, queued.Run.Subject);
            Assert.Equal("classify 4 images with m", queued.Run.Description);
            Assert.Null(queued.Result);
        }

        await using var second = await PortalAsync();
        var board = second.GetRequiredService<PortalJobs>();
        var (seen, subscription) = Watch(board, JobKind.ClassifyBatch);
        using (subscription)
        await using (await second.StartJobsAsync(Ct))
        {
            var batches = second.GetRequiredService<ClassifyJobs>();
            var done = await UntilAsync(() => batches.Get(id), b => b.Finished, "the batch to finish");
            Assert.True(done.State == JobState.Succeeded, done.Error);
            Assert.Equal(3, done.Result!.Outcomes.Count(o => o.Prediction is not null));
            Assert.NotNull(done.Result.Outcomes[3].Error); // the broken file has its own reason; the batch still succeeds
            Assert.Equal(done.Total, done.Done);
            var result = Assert.IsType<ClassifyBatchDone>(done.Run!.Result);
            Assert.Equal((3, 1), (result.Answered, result.NotRead));
            // Progress went through the job: running, then every image counted, and the final flush says all of them.
            Assert.Contains(seen, v => v.State == JobState.Running);
            Assert.Equal("4 of 4 images", done.Run.Progress.Text);
            Assert.Equal(1, done.Run.Progress.Fraction);
            Assert.Equal(inputs[1].Bytes, batches.ImageBytes(id, 1));
        }
        // Stored as any job is (kind by name), and the answers with the batch.
        await using var db = await second.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        var record = await db.Jobs.AsNoTracking().SingleAsync(Ct);
        Assert.Equal((JobKind.ClassifyBatch, JobState.Succeeded, id), (record.Kind, record.State, record.Subject));
        Assert.True(File.Exists(Path.Combine(second.GetRequiredService<ClassifyBatchStore>().Root, id, "outcome.json")));
    }

    [Fact]
    public async Task A_classify_batch_cancelled_while_running_ends_Cancelled_and_keeps_its_images_to_classify_again()
    {
        await using var services = await PortalAsync();
        var model = await ModelAsync(services);
        await using var running = await services.StartJobsAsync(Ct);
        var batches = services.GetRequiredService<ClassifyJobs>();
        var board = services.GetRequiredService<PortalJobs>();
        var budget = services.GetRequiredService<DecodeBudget>();
        ClassifyJob started;
        // The whole decoding budget taken: the batch runs and waits inside its first decode until it is cancelled.
        using (budget.Reserve(budget.CapacityBytes, DecodeWait.UntilFree, Ct))
        {
            started = await batches.EnqueueAsync(model, Cells(2, 20), [], Ct);
            await UntilAsync(() => batches.Get(started.Id), b => b.State == JobState.Running && budget.Waiting > 0, "the batch to wait on the decode budget");
            Assert.True(await board.CancelAsync(started.Run!.Id, Ct));
            var cancelled = await UntilAsync(() => batches.Get(started.Id), b => b.Finished, "the cancelled batch to end");
            Assert.Equal(JobState.Cancelled, cancelled.State);
            Assert.Equal("the batch's images are kept: classify them again", cancelled.Run!.CancelledNote);
            Assert.True(cancelled.CanRunAgain);
            Assert.Null(cancelled.Result);
        }
        var again = await batches.EnqueueAgainAsync(started.Id, cancellationToken: Ct);
        var done = await UntilAsync(() => batches.Get(again.Id), b => b.Finished, "the batch classified again");
        Assert.True(done.State == JobState.Succeeded, done.Error);
        Assert.Equal(2, done.Result!.Outcomes.Count(o => o.Prediction is not null));
    }

    [Fact]
    public async Task A_classify_batch_that_fails_says_why_on_its_job_and_with_the_stored_batch_after_a_restart()
    {
        string id, reason;
        await using (var first = await PortalAsync())
        {
            var model = await ModelAsync(first);
            await using var running = await first.StartJobsAsync(Ct);
            File.Delete(ModelPath); // chosen, then gone from the data folder before the batch ran
            var batches = first.GetRequiredService<ClassifyJobs>();
            id = (await batches.EnqueueAsync(model, Cells(1, 30), [], Ct)).Id;
            var failed = await UntilAsync(() => batches.Get(id), b => b.Finished, "the batch to fail");
            Assert.Equal(JobState.Failed, failed.State);
            reason = failed.Error!;
            Assert.False(string.IsNullOrWhiteSpace(reason));
            Assert.Equal(reason, failed.Run!.Error);
            Assert.DoesNotContain(" at WbcPortal.", reason); // a reason for people, not a stack trace
            Assert.True(failed.CanRunAgain);
        }
        // A portal whose board is not loaded (or no longer holds the job) reads the reason stored with the batch.
        await using var second = await PortalAsync();
        var stored = second.GetRequiredService<ClassifyJobs>().Get(id)!;
        Assert.Null(stored.Run);
        Assert.Equal((JobState.Failed, reason), (stored.State, stored.Error));
    }

    [Fact]
    public async Task A_smear_batch_is_queued_cancelled_run_with_its_progress_and_fails_with_its_reason()
    {
        await using var services = await PortalAsync();
        var model = await ModelAsync(services);
        var batches = services.GetRequiredService<SmearJobs>();
        var board = services.GetRequiredService<PortalJobs>();

        // Cancelled while queued: it never starts; its smears are kept.
        var queued = await batches.EnqueueAsync(model, SmearBatchesTests.Smears(), [], Ct);
        Assert.Equal(JobState.Queued, queued.State);
        Assert.Equal((JobKind.SmearBatch, "read 4 smears with m"), (queued.Run!.Kind, queued.Run.Description));
        Assert.True(await board.CancelAsync(queued.Run.Id, Ct));
        var cancelled = batches.Get(queued.Id)!;
        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.True(cancelled.CanRunAgain);

        var (seen, subscription) = Watch(board, JobKind.SmearBatch);
        using (subscription)
        await using (await services.StartJobsAsync(Ct))
        {
            // The cancelled job is not run by the worker that comes later; the batch read again is.
            var again = await batches.EnqueueAgainAsync(queued.Id, cancellationToken: Ct);
            var done = await UntilAsync(() => batches.Get(again.Id), b => b.Finished, "the smear batch to finish");
            Assert.True(done.State == JobState.Succeeded, done.Error);
            Assert.Equal(3, done.Count().Cells);
            Assert.Equal("4 of 4 smears", done.Run!.Progress.Text);
            Assert.Equal((3, 1), (((SmearBatchDone)done.Run.Result!).Cells, ((SmearBatchDone)done.Run.Result!).NotRead));
            Assert.Contains(seen, v => v.Id == done.Run.Id && v.State == JobState.Running);
            Assert.Equal(JobState.Cancelled, board.Find(queued.Run.Id)!.State);

            File.Delete(ModelPath);
            var failing = await batches.EnqueueAsync(model, SmearBatchesTests.Smears().Take(1).ToList(), [], Ct);
            var failed = await UntilAsync(() => batches.Get(failing.Id), b => b.Finished, "the smear batch to fail");
            Assert.Equal(JobState.Failed, failed.State);
            Assert.False(string.IsNullOrWhiteSpace(failed.Error));
            Assert.Equal(failed.Error, failed.Run!.Error);
        }
    }

    [Fact]
    public async Task A_read_only_portal_runs_a_classify_batch_in_process_with_the_same_shape_and_writes_nothing()
    {
        await using (var writable = await PortalAsync())
        {
            await ModelAsync(writable);
        }
        var before = Snapshot();

        await using (var services = await PortalAsync(readOnly: true))
        await using (await services.StartJobsAsync(Ct))
        {
            var board = services.GetRequiredService<PortalJobs>();
            var batches = services.GetRequiredService<ClassifyJobs>();
            Assert.True(batches.ReadOnly);
            Assert.True(services.GetRequiredService<JobDatabase>().InMemory);
            var model = (await services.GetRequiredService<PredictionService>().ActiveAsync(Ct))!;

            var inputs = Cells(2, 40);
            var started = await batches.EnqueueAsync(model, inputs, [], Ct);
            var done = await UntilAsync(() => batches.Get(started.Id), b => b.Finished, "the batch to finish in process");
            Assert.True(done.State == JobState.Succeeded, done.Error);
            Assert.Equal(2, done.Result!.Outcomes.Count(o => o.Prediction is not null));
            Assert.Equal("3 of 3 images", done.Run!.Progress.Text);
            Assert.Equal(inputs[0].Bytes, batches.ImageBytes(started.Id, 0)); // held in memory
            Assert.True(done.CanRunAgain);

            // Cancel, the same way: held on the decode budget, cancelled while it runs.
            var budget = services.GetRequiredService<DecodeBudget>();
            using (budget.Reserve(budget.CapacityBytes, DecodeWait.UntilFree, Ct))
            {
                var held = await batches.EnqueueAgainAsync(started.Id, cancellationToken: Ct);
                await UntilAsync(() => batches.Get(held.Id), b => b.State == JobState.Running && budget.Waiting > 0, "the batch to wait on the decode budget");
                Assert.True(await board.CancelAsync(held.Run!.Id, Ct));
                Assert.Equal(JobState.Cancelled, (await UntilAsync(() => batches.Get(held.Id), b => b.Finished, "the cancelled batch to end")).State);
            }

            // A kind that writes is refused here with the reason, nothing queued.
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => board.EnqueueAsync(new GroupingJob(1, "cells"), cancellationToken: Ct));
            Assert.Contains("read-only", refused.Message);
            Assert.All(board.Recent(), j => Assert.Equal(JobKind.ClassifyBatch, j.Kind));
        }

        // Nothing in the data folder changed: the database, no batch folder, no job database.
        Assert.Equal(before, Snapshot());
        await using var check = await PortalAsync(readOnly: true);
        await using var db = await check.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        Assert.Equal(0, await db.Jobs.CountAsync(Ct));
    }

    /// <summary>Every file of the data folder and its content's hash (SQLite's shared-memory index aside: it holds no data).</summary>
    private SortedDictionary<string, string> Snapshot() => new(Directory.EnumerateFiles(data.Path, "*", SearchOption.AllDirectories)
        .Where(f => !f.EndsWith("-shm", StringComparison.Ordinal))
        .ToDictionary(f => Path.GetRelativePath(data.Path, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))), StringComparer.Ordinal);
}
