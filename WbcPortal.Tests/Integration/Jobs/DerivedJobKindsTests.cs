using System.Collections.Concurrent;
using System.Security.Cryptography;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Exploration;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Review;
using WbcPortal.Services.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Jobs;

/// <summary>
/// Issue 27 item 1, the last three: a run's nearest-image index, Explore's measurements and a cross-validation's model are kinds
/// of the one job system. Each is queued on its queue, runs with its progress, is cancelled, fails with its reason, and what
/// it made is found again after a restart (the index and the measurement as files in the data folder, the model as the job's
/// stored result); a read-only portal computes the two caches in memory and writes nothing. Real SQLite, Hangfire on SQLite, a
/// real exported model; the images are made here.
/// </summary>
public sealed class DerivedJobKindsTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-derived-jobs");

    public void Dispose() => data.Dispose();

    private async Task<ServiceProvider> PortalAsync(bool readOnly = false)
    {
        var settings = new Dictionary<string, string?> { ["Storage:ReadOnly"] = readOnly ? "true" : "false" };
        var services = new ServiceCollection().AddPortalCoreForTests(data.Path, settings).AddSingleton(TimeProvider.System).AddJobsForTests(data.Path).BuildServiceProvider();
        if (!readOnly) await services.MigrateAsync();
        return services;
    }

    /// <summary>A dataset of the model's four classes, three images each, and a split: per class one image in each part.</summary>
    private async Task<(DatasetSummary Dataset, int SplitId, IReadOnlyList<int> ValImages)> DatasetAsync(ServiceProvider services)
    {
        using var folder = new TempDirectory("wbc-derived-source");
        int seed = 0;
        foreach (var cls in ClassifierOnnxExportFixture.Labels)
        {
            var dir = Directory.CreateDirectory(Path.Combine(folder.Path, cls)).FullName;
            for (int i = 0; i < 3; i++)
            {
                using var smear = TestImages.Smear(96, 72, seed: ++seed);
                await smear.SaveAsPngAsync(Path.Combine(dir, $"{i}.png"), Ct);
            }
        }
        var datasets = services.GetRequiredService<DatasetService>();
        var imported = await datasets.ImportFolderAsync("cells", folder.Path, cancellationToken: Ct);
        await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        var images = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == imported.DatasetId).OrderBy(i => i.Id).ToListAsync(Ct);
        var split = new Split { DatasetId = imported.DatasetId, Name = "s1", Strategy = WbcPortal.Engine.Datasets.Splitting.SplitStrategy.Random, Ratios = "1/1/1", Seed = 1, CreatedAt = DateTimeOffset.UtcNow, ReportJson = "{}" };
        var val = new List<DatasetImage>();
        foreach (var cls in images.GroupBy(i => i.ClassName))
        {
            var parts = cls.Select((image, i) => (image, Part: SplitParts.Values[i % 3])).ToList();
            foreach (var (image, part) in parts)
            {
                split.Members.Add(new SplitMember { DatasetImageId = image.Id, Part = part });
                if (part == SplitPart.Validation) val.Add(image);
            }
        }
        db.Splits.Add(split);
        await db.SaveChangesAsync(Ct);
        return ((await datasets.ListAsync(Ct)).Single(d => d.Id == imported.DatasetId), split.Id, val.Select(i => i.Id).ToList());
    }

    /// <summary>A succeeded run of the split with its exported model in its folder (a fold of <paramref name="crossValidationId"/>, when given).</summary>
    private async Task<int> RunAsync(ServiceProvider services, int splitId, int? crossValidationId = null)
    {
        await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        var run = new Run
        {
            Name = $"run-{Guid.NewGuid():N}"[..12], SplitId = splitId, ConfigJson = new TrainingConfig().ToJson(), Status = RunStatus.Succeeded,
            CreatedAt = DateTimeOffset.UtcNow, CheckpointDirectory = "checkpoints", CrossValidationId = crossValidationId,
        };
        db.Runs.Add(run);
        await db.SaveChangesAsync(Ct);
        run.ModelPath = DataFolderLayout.ModelRelative(run.Id);
        await db.SaveChangesAsync(Ct);
        var path = DataFolderLayout.ModelPath(data.Path, run.Id);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, fixture.Bytes, Ct);
        return run.Id;
    }

    private static async Task<T> UntilAsync<T>(Func<T?> read, Func<T, bool> done, string what) where T : class
    {
        for (int i = 0; i < 2400; i++)
        {
            if (read() is { } value && done(value)) return value;
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException($"Waited two minutes for {what}.");
    }

    private static (ConcurrentQueue<JobView> Seen, IDisposable Subscription) Watch(PortalJobs board, JobKind kind)
    {
        var seen = new ConcurrentQueue<JobView>();
        return (seen, board.Subscribe(v => { if (v.Kind == kind) seen.Enqueue(v); }));
    }

    /// <summary>How many jobs wait on each of Hangfire's queues.</summary>
    private static Dictionary<string, long> Queued(ServiceProvider services) =>
        services.GetRequiredService<JobStorage>().GetMonitoringApi().Queues().ToDictionary(q => q.Name, q => q.Length);

    private string IndexPath(int runId) => Path.Combine(DataFolderLayout.RunFolder(data.Path, runId), "neighbours-train.bin");

    [Fact]
    public async Task A_runs_neighbour_index_is_queued_on_inference_runs_with_its_progress_and_is_found_again_after_a_restart()
    {
        int runId;
        Guid jobId;
        IReadOnlyList<int> val;
        await using (var first = await PortalAsync())
        {
            (_, int splitId, val) = await DatasetAsync(first);
            runId = await RunAsync(first, splitId);
            var index = first.GetRequiredService<NeighbourJobs>();
            Assert.Equal(NeighbourIndexState.Missing, index.Status(runId).State);
            // No worker yet: stored and queued on the model's queue, nothing more.
            var queued = await index.EnqueueBuildAsync(runId, Ct);
            Assert.Equal(NeighbourIndexState.Building, queued.State);
            Assert.Equal((JobKind.NeighbourIndex, JobState.Queued, $"run {runId}"), (queued.Job!.Kind, queued.Job.State, queued.Job.Subject));
            Assert.Equal(JobKinds.InferenceQueue, JobKinds.Queue(JobKind.NeighbourIndex));
            Assert.Equal(1, Queued(first).GetValueOrDefault(JobKinds.InferenceQueue));
            // Asked again while it waits: the same job, not a second one.
            Assert.Equal(queued.Job.Id, (await index.EnqueueBuildAsync(runId, Ct)).Job!.Id);
            jobId = queued.Job.Id;
        }

        await using (var second = await PortalAsync())
        {
            var board = second.GetRequiredService<PortalJobs>();
            var (seen, subscription) = Watch(board, JobKind.NeighbourIndex);
            using (subscription)
            await using (await second.StartJobsAsync(Ct))
            {
                var done = await board.FinishedAsync(jobId, 120);
                Assert.True(done.State == JobState.Succeeded, done.Error);
                Assert.Equal(new NeighbourIndexDone(runId, 4), done.Result);
                Assert.Contains(seen, v => v.Id == jobId && v.State == JobState.Running);
                Assert.Equal(("4 of 4 training images", 1.0), (done.Progress.Text, done.Progress.Fraction));
                Assert.Equal(NeighbourIndexState.Ready, second.GetRequiredService<NeighbourJobs>().Status(runId).State);
            }
            Assert.True(File.Exists(IndexPath(runId)));
        }

        // After a restart the page finds the index beside the run (the board not even loaded) and searches it; nothing is queued again.
        await using var third = await PortalAsync();
        var again = third.GetRequiredService<NeighbourJobs>();
        Assert.Equal(NeighbourIndexState.Ready, again.Status(runId).State);
        Assert.Equal(NeighbourIndexState.Ready, (await again.EnqueueBuildAsync(runId, Ct)).State);
        var nearest = await third.GetRequiredService<NeighbourService>().NearestAsync(runId, val[0], k: 3, Ct);
        Assert.Equal(3, nearest!.Count);
        await using var db = await third.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        Assert.Equal(1, await db.Jobs.CountAsync(Ct));
    }

    [Fact]
    public async Task A_neighbour_index_cancelled_while_running_stores_nothing_and_one_that_fails_says_why()
    {
        await using var services = await PortalAsync();
        var (_, splitId, _) = await DatasetAsync(services);
        int runId = await RunAsync(services, splitId);
        var index = services.GetRequiredService<NeighbourJobs>();
        var budget = services.GetRequiredService<DecodeBudget>();
        await using var running = await services.StartJobsAsync(Ct);
        // The whole decoding budget taken: the job runs and waits inside its first decode until it is cancelled.
        using (budget.Reserve(budget.CapacityBytes, DecodeWait.UntilFree, Ct))
        {
            await index.EnqueueBuildAsync(runId, Ct);
            await UntilAsync(() => index.Status(runId).Job, j => j.State == JobState.Running && budget.Waiting > 0, "the index job to wait on the decode budget");
            Assert.True(await index.CancelAsync(runId, Ct));
            var cancelled = await UntilAsync(() => index.Status(runId).Job, j => j.Finished, "the cancelled index job to end");
            Assert.Equal(JobState.Cancelled, cancelled.State);
            Assert.Equal(NeighbourIndexState.Cancelled, index.Status(runId).State);
            Assert.False(File.Exists(IndexPath(runId)));
        }

        // Its model gone from the data folder: the job fails, and the page reads why (no stack trace).
        File.Delete(DataFolderLayout.ModelPath(data.Path, runId));
        var queued = await index.EnqueueBuildAsync(runId, Ct);
        var failed = await services.GetRequiredService<PortalJobs>().FinishedAsync(queued.Job!.Id, 120);
        Assert.Equal(JobState.Failed, failed.State);
        var status = index.Status(runId);
        Assert.Equal(NeighbourIndexState.Failed, status.State);
        Assert.Contains("model is not in the data folder", status.Error);
        Assert.DoesNotContain(" at WbcPortal.", status.Error);
    }

    [Fact]
    public async Task Explores_measurements_are_queued_on_cpu_run_with_their_progress_and_are_found_again_after_a_restart()
    {
        DatasetSummary dataset;
        Guid jobId;
        await using (var first = await PortalAsync())
        {
            (dataset, _, _) = await DatasetAsync(first);
            var measurements = first.GetRequiredService<ExplorationJobs>();
            Assert.True((await measurements.GetAsync(dataset, cancellationToken: Ct)).NeverAsked);
            var queued = await measurements.EnqueueAsync(dataset, cancellationToken: Ct);
            Assert.True(queued.Running);
            Assert.Equal((JobKind.Exploration, JobState.Queued, "cells"), (queued.Job!.Kind, queued.Job.State, queued.Job.Subject));
            Assert.Equal(JobKinds.CpuQueue, JobKinds.Queue(JobKind.Exploration));
            Assert.Equal(1, Queued(first).GetValueOrDefault(JobKinds.CpuQueue));
            Assert.Equal(queued.Job.Id, (await measurements.EnqueueAsync(dataset, cancellationToken: Ct)).Job!.Id);
            jobId = queued.Job.Id;
        }

        await using (var second = await PortalAsync())
        {
            var board = second.GetRequiredService<PortalJobs>();
            var (seen, subscription) = Watch(board, JobKind.Exploration);
            using (subscription)
            await using (await second.StartJobsAsync(Ct))
            {
                var done = await board.FinishedAsync(jobId, 120);
                Assert.True(done.State == JobState.Succeeded, done.Error);
                var result = Assert.IsType<ExplorationDone>(done.Result);
                Assert.Equal((dataset.Id, 12, 0), (result.DatasetId, result.Measured, result.Failed));
                Assert.Contains(seen, v => v.Id == jobId && v.State == JobState.Running);
                Assert.Contains(seen, v => v.Id == jobId && v.Progress.Text.StartsWith("measured ", StringComparison.Ordinal));
                Assert.Equal(("12 images measured", 1.0), (done.Progress.Text, done.Progress.Fraction));
                var shown = await second.GetRequiredService<ExplorationJobs>().GetAsync(dataset, cancellationToken: Ct);
                Assert.Equal(4, shown.Result!.Classes.Count);
                Assert.Equal(jobId, shown.Job!.Id);
            }
        }
        Assert.Single(Directory.GetFiles(Path.Combine(data.Path, ExplorationService.Folder, dataset.Id.ToString()), "*.json"));

        // After a restart the measures are read from the data folder: the same numbers, nothing queued again.
        await using var third = await PortalAsync();
        var after = third.GetRequiredService<ExplorationJobs>();
        var found = await after.GetAsync(dataset, cancellationToken: Ct);
        Assert.NotNull(found.Result);
        Assert.Equal(12, found.Result.Measured);
        Assert.Equal(4, found.Result.Classes.Count);
        Assert.Equal(256, found.Result.AverageDensity.Count);
        Assert.Same(found.Result, (await after.EnqueueAsync(dataset, cancellationToken: Ct)).Result);
        Assert.DoesNotContain(Queued(third), q => q.Value > 0);
    }

    [Fact]
    public async Task Explores_measurements_cancelled_while_running_store_nothing_and_failing_ones_say_why()
    {
        await using var services = await PortalAsync();
        var (dataset, _, _) = await DatasetAsync(services);
        var measurements = services.GetRequiredService<ExplorationJobs>();
        var board = services.GetRequiredService<PortalJobs>();
        var budget = services.GetRequiredService<DecodeBudget>();
        await using (await services.StartJobsAsync(Ct))
        {
            using (budget.Reserve(budget.CapacityBytes, DecodeWait.UntilFree, Ct))
            {
                var started = await measurements.EnqueueAsync(dataset, cancellationToken: Ct);
                await UntilAsync(() => board.Find(started.Job!.Id), j => j.State == JobState.Running && budget.Waiting > 0, "the measurement to wait on the decode budget");
                Assert.True(await measurements.CancelAsync(await measurements.GetAsync(dataset, cancellationToken: Ct), Ct));
                var cancelled = await board.FinishedAsync(started.Job!.Id, 120);
                Assert.Equal(JobState.Cancelled, cancelled.State);
                Assert.Equal("nothing was stored; Explore measures again when asked", cancelled.CancelledNote);
                var after = await measurements.GetAsync(dataset, cancellationToken: Ct);
                Assert.Null(after.Result);
                Assert.False(after.NeverAsked); // the page offers to measure again rather than queueing by itself
                Assert.False(Directory.Exists(Path.Combine(data.Path, ExplorationService.Folder)));
            }
        }

        // Queued, then its dataset deleted before a worker took it: the job fails with the reason.
        var queued = await measurements.EnqueueAsync(dataset, cancellationToken: Ct);
        Assert.True(queued.Running);
        await services.GetRequiredService<DatasetService>().DeleteAsync(dataset.Id, Ct);
        await using (await services.StartJobsAsync(Ct))
        {
            var failed = await board.FinishedAsync(queued.Job!.Id, 120);
            Assert.Equal(JobState.Failed, failed.State);
            Assert.Equal("The dataset has no images to measure.", failed.Error);
        }
    }

    [Fact]
    public async Task A_read_only_portal_computes_the_index_and_the_measurements_in_memory_and_writes_nothing()
    {
        int runId;
        DatasetSummary dataset;
        IReadOnlyList<int> val;
        await using (var writable = await PortalAsync())
        {
            (dataset, int splitId, val) = await DatasetAsync(writable);
            runId = await RunAsync(writable, splitId);
        }
        var before = Snapshot();

        await using (var services = await PortalAsync(readOnly: true))
        await using (await services.StartJobsAsync(Ct))
        {
            Assert.True(services.GetRequiredService<JobDatabase>().InMemory);
            var board = services.GetRequiredService<PortalJobs>();
            var index = services.GetRequiredService<NeighbourJobs>();
            var built = await index.EnqueueBuildAsync(runId, Ct);
            Assert.True((await board.FinishedAsync(built.Job!.Id, 120)).State == JobState.Succeeded, board.Find(built.Job.Id)!.Error);
            Assert.Equal(NeighbourIndexState.Ready, index.Status(runId).State);
            Assert.Equal(3, (await services.GetRequiredService<NeighbourService>().NearestAsync(runId, val[0], k: 3, Ct))!.Count);

            var measurements = services.GetRequiredService<ExplorationJobs>();
            var measuring = await measurements.EnqueueAsync(dataset, cancellationToken: Ct);
            Assert.True((await board.FinishedAsync(measuring.Job!.Id, 120)).State == JobState.Succeeded, board.Find(measuring.Job.Id)!.Error);
            Assert.Equal(12, (await measurements.GetAsync(dataset, cancellationToken: Ct)).Result!.Measured);

            // Making a model writes: refused here with the reason, nothing queued.
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => board.EnqueueAsync(new CrossValidationModelJob(1, "cv1"), cancellationToken: Ct));
            Assert.Contains("read-only", refused.Message);
        }
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task A_cross_validations_model_is_queued_on_inference_made_with_its_progress_and_its_result_read_back_after_a_restart()
    {
        int cvId;
        Guid jobId;
        await using (var first = await PortalAsync())
        {
            var (_, splitId, _) = await DatasetAsync(first);
            await using (var db = await first.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct))
            {
                var cv = new CrossValidation { Name = "cv1", SourceSplitId = splitId, Folds = 2, Seed = 1, ConfigJson = new TrainingConfig().ToJson(), CreatedAt = DateTimeOffset.UtcNow };
                db.CrossValidations.Add(cv);
                await db.SaveChangesAsync(Ct);
                cvId = cv.Id;
            }
            await RunAsync(first, splitId, cvId);
            await RunAsync(first, splitId, cvId);
            var models = first.GetRequiredService<CrossValidationModelJobs>();
            var queued = await models.EnqueueAsync(cvId, Ct);
            Assert.Equal((JobKind.CrossValidationModel, JobState.Queued, "one deployable model from cross-validation 'cv1'"), (queued.Kind, queued.State, queued.Description));
            Assert.Equal(JobKinds.InferenceQueue, JobKinds.Queue(JobKind.CrossValidationModel));
            Assert.Equal(1, Queued(first).GetValueOrDefault(JobKinds.InferenceQueue));
            Assert.Equal(queued.Id, (await models.EnqueueAsync(cvId, Ct)).Id); // one at a time per cross-validation
            jobId = queued.Id;
        }

        await using (var second = await PortalAsync())
        {
            var board = second.GetRequiredService<PortalJobs>();
            var (seen, subscription) = Watch(board, JobKind.CrossValidationModel);
            using (subscription)
            await using (await second.StartJobsAsync(Ct))
            {
                var done = await board.FinishedAsync(jobId, 180);
                Assert.True(done.State == JobState.Succeeded, done.Error);
                var made = Assert.IsType<CrossValidationModel>(done.Result);
                Assert.Equal(("cv1-ensemble", 2), (made.Name, made.Members));
                // Its first step is always shown (the board's notes are throttled), and the final flush says it is done.
                Assert.Contains(seen, v => v.Id == jobId && v.State == JobState.Running && v.Progress.Text == "averaging 2 fold models");
                Assert.Equal(("registered as model cv1-ensemble", 1.0), (done.Progress.Text, done.Progress.Fraction));
            }
        }

        // After a restart the page's newest job of the cross-validation still carries the model made (its stored result).
        await using var third = await PortalAsync();
        await using (await third.StartJobsAsync(Ct))
        {
            var latest = third.GetRequiredService<CrossValidationModelJobs>().Latest(cvId)!;
            Assert.Equal((jobId, JobState.Succeeded), (latest.Id, latest.State));
            var made = Assert.IsType<CrossValidationModel>(latest.Result);
            Assert.Equal("cv1-ensemble", made.Name);
            Assert.Equal(4, made.Test.Total);
            await using var db = await third.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
            Assert.Equal(cvId, (await db.Models.AsNoTracking().SingleAsync(m => m.Id == made.ModelId, Ct)).CrossValidationId);
            Assert.True(File.Exists(Path.Combine(data.Path, made.OnnxPath)));
        }
    }

    [Fact]
    public async Task A_cross_validations_model_is_cancelled_while_running_and_one_that_cannot_be_made_says_why()
    {
        await using var services = await PortalAsync();
        var (_, splitId, _) = await DatasetAsync(services);
        int cvId;
        await using (var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct))
        {
            var cv = new CrossValidation { Name = "cv2", SourceSplitId = splitId, Folds = 2, Seed = 1, ConfigJson = new TrainingConfig().ToJson(), CreatedAt = DateTimeOffset.UtcNow };
            db.CrossValidations.Add(cv);
            await db.SaveChangesAsync(Ct);
            cvId = cv.Id;
        }
        await RunAsync(services, splitId, cvId);
        var models = services.GetRequiredService<CrossValidationModelJobs>();
        var board = services.GetRequiredService<PortalJobs>();
        var budget = services.GetRequiredService<DecodeBudget>();
        await using var running = await services.StartJobsAsync(Ct);

        // One fold model only: nothing to average, and the card says so.
        var failed = await board.FinishedAsync((await models.EnqueueAsync(cvId, Ct)).Id, 120);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal("Cross-validation 'cv2' has 1 finished fold model(s); averaging needs at least two.", failed.Error);

        // Two: cancelled while it predicts (held on the decode budget); no model is registered and its file is removed.
        await RunAsync(services, splitId, cvId);
        using (budget.Reserve(budget.CapacityBytes, DecodeWait.UntilFree, Ct))
        {
            var started = await models.EnqueueAsync(cvId, Ct);
            await UntilAsync(() => board.Find(started.Id), j => j.State == JobState.Running && budget.Waiting > 0, "the model job to wait on the decode budget");
            Assert.True(await board.CancelAsync(started.Id, Ct));
            var cancelled = await board.FinishedAsync(started.Id, 120);
            Assert.Equal(JobState.Cancelled, cancelled.State);
            Assert.Equal(cancelled.Id, models.Latest(cvId)!.Id);
        }
        await using var db2 = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        Assert.Equal(0, await db2.Models.CountAsync(Ct));
        var ensembles = Path.Combine(data.Path, CrossValidationModels.Folder);
        Assert.True(!Directory.Exists(ensembles) || Directory.GetFiles(ensembles).Length == 0);
    }

    /// <summary>Every file of the data folder and its content's hash (SQLite's shared-memory index aside: it holds no data).</summary>
    private SortedDictionary<string, string> Snapshot() => new(Directory.EnumerateFiles(data.Path, "*", SearchOption.AllDirectories)
        .Where(f => !f.EndsWith("-shm", StringComparison.Ordinal))
        .ToDictionary(f => Path.GetRelativePath(data.Path, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))), StringComparer.Ordinal);
}
