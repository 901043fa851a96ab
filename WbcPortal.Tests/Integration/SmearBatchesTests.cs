using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Smears;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Smear batches: every white cell found and classified, stored with the smears, found again by a portal started afresh on the same
/// folder, corrections stored with who and when and undone by marking; the count the page reads is the report's (HTML, CSV, JSON)
/// and the API's. A real exported model, the real detector, real SQLite.
/// </summary>
public sealed class SmearBatchesTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-smear-batches");

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

    internal static PredictionInput Png(string name, SixLabors.ImageSharp.Image image)
    {
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        image.Dispose();
        return new PredictionInput(name, ms.ToArray());
    }

    internal static IReadOnlyList<PredictionInput> Smears() =>
    [
        Png("two-cells.png", TestImages.Field(640, 480, 5, [(150, 150, 40), (480, 330, 40)])),
        Png("one-cell.png", TestImages.Field(640, 480, 6, [(320, 240, 42)])),
        Png("no-cell.png", TestImages.Field(640, 480, 7, [])),
        new PredictionInput("broken.jpg", [0xFF, 0xD8, 1, 2, 3]),
    ];

    private static async Task<SmearJob> FinishedAsync(SmearJobs jobs, string id)
    {
        for (int i = 0; i < 600; i++)
        {
            if (jobs.Get(id) is { Finished: true } job) return job;
            await Task.Delay(100, Ct);
        }
        throw new TimeoutException("The batch did not finish in a minute.");
    }

    [Fact]
    public async Task A_batch_finds_every_cell_keeps_its_corrections_across_a_restart_and_reports_one_count()
    {
        string id;
        await using (var first = await PortalAsync())
        {
            await using var running = await first.StartJobsAsync(Ct);
            var jobs = first.GetRequiredService<SmearJobs>();
            var job = await FinishedAsync(jobs, (await jobs.EnqueueAsync(await ModelAsync(first), Smears(), [], Ct)).Id);
            id = job.Id;
            Assert.Equal(JobState.Succeeded, job.State);
            var images = job.Result!.Images;
            Assert.Equal([2, 1, 0], images.Take(3).Select(i => i.Cells.Count));
            Assert.Contains("broken.jpg", images[3].File);
            Assert.NotNull(images[3].Error);
            Assert.Equal(3, job.Count().Cells);

            // A reviewer relabels a cell, deletes one, adds one (a class the model does not know), then undoes the delete.
            var relabelled = images[0].Cells[0];
            await Assert.ThrowsAsync<ArgumentException>(() => jobs.CorrectAsync(id, 0, relabelled.Id, SmearCorrectionKind.Relabel, null, "LYMPHOCYTE", "", Ct));
            await jobs.CorrectAsync(id, 0, relabelled.Id, SmearCorrectionKind.Relabel, null, "LYMPHOCYTE", "ana", Ct);
            await jobs.CorrectAsync(id, 1, images[1].Cells[0].Id, SmearCorrectionKind.Delete, null, null, "ana", Ct);
            var added = await jobs.CorrectAsync(id, 2, -1, SmearCorrectionKind.Add, [100, 100, 220, 210], "BASOPHIL", "ben", Ct);
            Assert.Equal(0, added.Cell);
            Assert.Equal(3, jobs.Get(id)!.Count().Cells);
            Assert.True(await jobs.UndoAsync(id, 1, "ana", Ct));
            Assert.Equal(4, jobs.Get(id)!.Count().Cells);
            await Assert.ThrowsAsync<ArgumentException>(() => jobs.CorrectAsync(id, 0, 0, SmearCorrectionKind.Move, [700, 500, 900, 700], null, "ana", Ct));
        }

        await using var second = await PortalAsync();
        var again = second.GetRequiredService<SmearJobs>().Get(id)!;
        Assert.Equal(JobState.Succeeded, again.State);
        Assert.Equal(3, again.Corrections.Count);
        Assert.Single(again.Corrections, c => c.UndoneAt is not null && c.Kind == SmearCorrectionKind.Delete && c.UndoneBy == "ana");
        Assert.Equal("LYMPHOCYTE", again.Cells(0)[0].Label);
        Assert.Equal("BASOPHIL", again.Cells(2).Single().Label);
        var count = again.Count();
        Assert.Equal(4, count.Cells);
        Assert.Equal(1, count.Classes.Single(c => c.Label == "BASOPHIL").Count);

        // One count: the report's JSON, CSV and HTML read what the page reads.
        using var json = JsonDocument.Parse(JsonSerializer.Serialize(SmearReport.Json(again), new JsonSerializerOptions(JsonSerializerDefaults.Web)));
        var counts = json.RootElement.GetProperty("document").GetProperty("counts");
        foreach (var c in count.Classes) Assert.Equal(c.Count, counts.GetProperty(c.Label).GetInt32());
        Assert.Equal(count.Unidentified, counts.GetProperty("Unidentified").GetInt32());
        var csvRows = SmearReport.Csv(again).Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1).Where(r => !r.StartsWith("broken", StringComparison.Ordinal)).ToList();
        Assert.Equal(count.Cells, csvRows.Count);
        string html = SmearReport.Html(again, DateTimeOffset.UtcNow);
        Assert.Contains($"{count.Cells} white cells found", html);
        Assert.Contains("Record of corrections", html);
        Assert.Contains("BASOPHIL", html);
    }

    [Fact]
    public async Task A_batch_cut_short_by_a_stop_says_so_and_reads_again_from_its_stored_smears()
    {
        var inputs = Smears();
        string id;
        await using (var first = await PortalAsync())
        {
            var store = first.GetRequiredService<SmearBatchStore>();
            id = "0123456789ab";
            await store.SaveNewAsync(new SmearBatchManifest(id, await ModelAsync(first), inputs.Select(i => i.File).ToList(), [], DateTimeOffset.UtcNow), inputs, Ct);
        }
        await using var second = await PortalAsync();
        await using var running = await second.StartJobsAsync(Ct);
        var jobs = second.GetRequiredService<SmearJobs>();
        var cut = jobs.Get(id)!;
        Assert.Equal(JobState.Failed, cut.State);
        Assert.Equal(SmearJobs.InterruptedReason, cut.Error);
        var rerun = await FinishedAsync(jobs, (await jobs.EnqueueAgainAsync(id, null, Ct)).Id);
        Assert.Equal(JobState.Succeeded, rerun.State);
        Assert.Equal(3, rerun.Count().Cells);
    }

    [Fact]
    public async Task Corrected_cells_become_a_dataset_of_crops_filed_by_class()
    {
        await using var services = await PortalAsync();
        await using var running = await services.StartJobsAsync(Ct);
        var smearJobs = services.GetRequiredService<SmearJobs>();
        var job = await FinishedAsync(smearJobs, (await smearJobs.EnqueueAsync(await ModelAsync(services), Smears(), [], Ct)).Id);
        // Give every cell a class (the model's answers may be Unidentified), one of them a class the model does not know.
        var cells = Enumerable.Range(0, 3).SelectMany(i => job.Cells(i).Select(c => (Image: i, c.Id))).ToList();
        Assert.Equal(3, cells.Count);
        string[] classes = ["NEUTROPHIL", "LYMPHOCYTE", "BASOPHIL"];
        for (int k = 0; k < cells.Count; k++) await smearJobs.CorrectAsync(job.Id, cells[k].Image, cells[k].Id, SmearCorrectionKind.Relabel, null, classes[k], "ana", Ct);
        Assert.Equal(3, SmearDatasets.Eligible(job).Values.Sum());

        var datasetJobs = services.GetRequiredService<WbcPortal.Services.Jobs.PortalJobs>();
        var exporter = new SmearDatasets(smearJobs, services.GetRequiredService<WbcPortal.Services.Datasets.UploadStaging>(),
            datasetJobs, services.GetRequiredService<WbcPortal.Engine.Imaging.ImageDecoding>(),
            services.GetRequiredService<WbcPortal.Services.Accounts.AccessControl>(), services.GetRequiredService<WbcPortal.Services.Accounts.AuditLog>());
        await Assert.ThrowsAsync<ArgumentException>(() => exporter.EnqueueAsync(job.Id, "  ", Ct));
        var queued = await exporter.EnqueueAsync(job.Id, "smear-cells", Ct);
        var import = await datasetJobs.FinishedAsync(queued.Id);
        Assert.True(import.State == WbcPortal.Services.Jobs.JobState.Succeeded, import.Error);
        var dataset = await services.GetRequiredService<WbcPortal.Services.Datasets.DatasetService>().GetAsync("smear-cells", Ct);
        var images = await services.GetRequiredService<WbcPortal.Services.Datasets.DatasetService>().GetImagesAsync(dataset.Id, Ct);
        Assert.Equal(["BASOPHIL", "LYMPHOCYTE", "NEUTROPHIL"], images.Select(i => i.ClassName).Order(StringComparer.Ordinal));
        // At the Kaggle images' scale (half resolution), centred on each cell: the two cells of one smear are two images.
        Assert.All(images, i => Assert.Equal((240, 240), (i.Width, i.Height)));
        Assert.Empty(Directory.GetDirectories(services.GetRequiredService<WbcPortal.Services.Datasets.UploadStaging>().Root));
    }

    [Fact]
    public async Task Only_the_newest_batches_are_kept_but_never_one_a_reviewer_corrected()
    {
        await using var services = await PortalAsync(kept: 1);
        await using var running = await services.StartJobsAsync(Ct);
        var jobs = services.GetRequiredService<SmearJobs>();
        var model = await ModelAsync(services);
        var one = Smears().Skip(1).Take(1).ToList();
        var corrected = await FinishedAsync(jobs, (await jobs.EnqueueAsync(model, one, [], Ct)).Id);
        await jobs.CorrectAsync(corrected.Id, 0, corrected.Cells(0)[0].Id, SmearCorrectionKind.Relabel, null, "MONOCYTE", "ana", Ct);
        var plain = await FinishedAsync(jobs, (await jobs.EnqueueAsync(model, one, [], Ct)).Id);
        var newest = await FinishedAsync(jobs, (await jobs.EnqueueAsync(model, one, [], Ct)).Id);
        var stored = services.GetRequiredService<SmearBatchStore>().List().Select(b => b.Id).ToList();
        Assert.Contains(corrected.Id, stored);
        Assert.Contains(newest.Id, stored);
        Assert.DoesNotContain(plain.Id, stored);
    }
}
