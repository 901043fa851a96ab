using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Options;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Classify batches outlive the process that ran them: the images and answers are stored in the data folder, a portal
/// started afresh on the same folder shows the same answers and thumbnails, a batch cut short by a stop says so and can be
/// classified again from its stored images, and only the newest batches are kept. A real exported model, real SQLite, the
/// portal's job system (Hangfire on SQLite) running the batches.
/// </summary>
public sealed class ClassifyBatchesTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-classify-batches");

    public void Dispose() => data.Dispose();

    private async Task<ServiceProvider> PortalAsync(int kept = 20)
    {
        var services = new ServiceCollection().AddPortalCoreForTests(data.Path, new Dictionary<string, string?> { ["Inference:KeptBatches"] = kept.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            .AddSingleton(TimeProvider.System).AddJobsForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        return services;
    }

    private async Task<ModelChoice> ModelAsync(ServiceProvider services)
    {
        string path = Path.Combine(data.Path, "models", "m.onnx");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var metadata = new ClassifierOnnxMetadata(ClassifierOnnxExportFixture.Labels, 64, 64, null, new CellCropSpec { Enabled = true, Size = 0.6 }, 1.3, true);
            File.WriteAllBytes(path, fixture.Exporter.Export(fixture.Model, metadata));
            await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
            db.Models.Add(new RegisteredModel { Name = "m", OnnxPath = "models/m.onnx", Labels = string.Join(",", ClassifierOnnxExportFixture.Labels), InputHeight = 64, InputWidth = 64, IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        return (await services.GetRequiredService<PredictionService>().ActiveAsync(Ct))!;
    }

    private static IReadOnlyList<PredictionInput> Images(int count, int seed) => Enumerable.Range(0, count).Select(i =>
    {
        using var image = TestImages.Smear(160, 120, seed + i);
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        return new PredictionInput($"cell-{seed + i}.png", ms.ToArray());
    }).Append(new PredictionInput("broken.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3])).ToList();

    private static async Task<ClassifyJob> FinishedAsync(ClassifyJobs jobs, string id)
    {
        for (int i = 0; i < 600; i++)
        {
            if (jobs.Get(id) is { Finished: true } job) return job;
            await Task.Delay(100, Ct);
        }
        throw new TimeoutException("The batch did not finish in a minute.");
    }

    [Fact]
    public async Task A_finished_batch_reads_the_same_after_a_restart_with_its_images_and_csv()
    {
        var inputs = Images(3, 10);
        string id, csv;
        IReadOnlyList<double> firstProbabilities;
        await using (var first = await PortalAsync())
        {
            await using var running = await first.StartJobsAsync(Ct);
            var jobs = first.GetRequiredService<ClassifyJobs>();
            var started = await jobs.EnqueueAsync(await ModelAsync(first), inputs, [new SkippedFile("notes.txt", "not a JPEG, PNG or zip file")], Ct);
            id = started.Id;
            var job = await FinishedAsync(jobs, id);
            Assert.Equal(JobState.Succeeded, job.State);
            Assert.Null(job.Result!.Outcomes[3].Prediction); // the broken file has its own error; the rest are answered
            Assert.NotNull(job.Result.Outcomes[3].Error);
            firstProbabilities = job.Result.Outcomes[0].Prediction!.Probabilities;
            csv = ClassifyJobs.Csv(job);
        }

        await using var second = await PortalAsync();
        var again = second.GetRequiredService<ClassifyJobs>();
        var stored = again.Get(id);
        Assert.NotNull(stored);
        Assert.Equal(JobState.Succeeded, stored.State);
        Assert.Equal(inputs.Select(i => i.File), stored.Files);
        Assert.Equal(firstProbabilities, stored.Result!.Outcomes[0].Prediction!.Probabilities);
        Assert.Equal(csv, ClassifyJobs.Csv(stored));
        Assert.Equal(inputs[1].Bytes, again.ImageBytes(id, 1));
        Assert.Null(again.ImageBytes(id, inputs.Count));
        Assert.Null(again.Get("../../etc/pw")); // ids name nothing outside the batches' folder
    }

    [Fact]
    public async Task A_batch_cut_short_by_a_stop_says_so_and_runs_again_from_its_stored_images()
    {
        await using var services = await PortalAsync();
        await using var running = await services.StartJobsAsync(Ct);
        var model = await ModelAsync(services);
        var store = services.GetRequiredService<ClassifyBatchStore>();
        var inputs = Images(2, 30);
        // What a stop mid-batch leaves: the images and manifest, no outcome.
        await store.SaveNewAsync(new ClassifyBatchManifest("0123456789ab", model, inputs.Select(i => i.File).ToList(), [], DateTimeOffset.UtcNow), inputs, Ct);

        var jobs = services.GetRequiredService<ClassifyJobs>();
        var cut = jobs.Get("0123456789ab")!;
        Assert.Equal(JobState.Failed, cut.State);
        Assert.Equal(ClassifyJobs.InterruptedReason, cut.Error);
        Assert.True(cut.CanRunAgain);

        var rerun = await jobs.EnqueueAgainAsync(cut.Id, cancellationToken: Ct);
        Assert.NotEqual(cut.Id, rerun.Id);
        var done = await FinishedAsync(jobs, rerun.Id);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(2, done.Result!.Outcomes.Count(o => o.Prediction is not null));
    }

    [Fact]
    public async Task Only_the_newest_batches_are_kept_on_disk()
    {
        await using var services = await PortalAsync(kept: 2);
        await using var running = await services.StartJobsAsync(Ct);
        var model = await ModelAsync(services);
        var jobs = services.GetRequiredService<ClassifyJobs>();
        var ids = new List<string>();
        for (int b = 0; b < 3; b++)
        {
            var job = await jobs.EnqueueAsync(model, Images(1, 50 + b), [], Ct);
            ids.Add(job.Id);
            await FinishedAsync(jobs, job.Id);
            await Task.Delay(20, Ct); // distinct start times
        }
        await jobs.EnqueueAsync(model, Images(1, 60), [], Ct); // trimming happens as a batch starts
        var root = services.GetRequiredService<ClassifyBatchStore>().Root;
        var left = Directory.EnumerateDirectories(root).Select(Path.GetFileName).ToHashSet();
        Assert.DoesNotContain(ids[0], left);
        Assert.DoesNotContain(ids[1], left);
        Assert.Contains(ids[2], left);
        // Datasets, runs and models are never in that folder.
        Assert.True(File.Exists(Path.Combine(data.Path, "models", "m.onnx")));
    }
}
