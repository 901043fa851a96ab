using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Review;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Evaluating a folder reads files that were never imported: a FIFO there is set aside with its reason, never opened.
/// (Through the service, not the executable: <c>evaluate --folder</c> needs a trained run, minutes on this machine;
/// the folder is resolved by the same <see cref="EvaluationService.ResolveAsync"/> before any model runs.)
/// </summary>
public sealed class FolderEvaluationFilesTests : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-eval-files");
    private readonly TempDirectory folder = new("wbc-eval-folder");
    private ServiceProvider services = null!;

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
        folder.Dispose();
    }

    /// <summary>
    /// A folder evaluation keeps a bounded picture of each image (never importing it), groups the copies of one cell into
    /// an original, and its per-image table, CSV and review read the same rows; evaluating the same source again removes the
    /// pictures of images it no longer holds.
    /// </summary>
    [Fact]
    public async Task A_folder_evaluation_keeps_pictures_and_originals_of_its_images()
    {
        var ct = TestContext.Current.CancellationToken;
        string[] labels = ["EOSINOPHIL", "NEUTROPHIL"];
        // o0, o1 eosinophils and o2, o3, o4 neutrophils, three augmented copies each (turned, shifted, exposed as the Kaggle copies are).
        var augmenter = new WbcPortal.Engine.Imaging.Augmentation.AffineAugmenter(WbcPortal.Engine.Imaging.Augmentation.AugmentationOptions.KaggleBloodCells);
        for (int o = 0; o < 5; o++)
        {
            using var original = WbcPortal.Tests.Engine.Grouping.SyntheticSmears.Dense(seed: 700 + o);
            var random = new Random(o);
            var dir = Directory.CreateDirectory(Path.Combine(folder.Path, labels[o < 2 ? 0 : 1])).FullName;
            for (int k = 0; k < 3; k++)
            {
                using var copy = augmenter.Augment(original, random);
                await copy.SaveAsPngAsync(Path.Combine(dir, $"o{o}_{k}.png"), ct);
            }
        }
        int runId = await RunSeeds.AddRunAsync(services, "folder-pictures", new WbcPortal.Engine.Training.TrainingConfig(), quality: 0.8);
        var evaluation = services.GetRequiredService<EvaluationService>();
        var previews = evaluation.PreviewsOf(runId);

        var images = await evaluation.ResolveAsync(labels, new EvaluationTarget.Folder(folder.Path, WbcPortal.Engine.Evaluation.EvaluationSource.Folder("cells")), ct, previews);
        Assert.Equal(15, images.Images.Count);
        string OriginalOf(string key) => Path.GetFileName(key).Split('_')[0];
        // Copies of one original share a group; two originals never do.
        Assert.All(images.Images.GroupBy(i => OriginalOf(i.Key)), g => Assert.Single(g.Select(i => images.GroupOfKey![i.Key]).Distinct()));
        Assert.Equal(5, images.Images.Select(i => images.GroupOfKey![i.Key]).Distinct().Count());
        foreach (var image in images.Images)
        {
            string sha = images.ShaOfFile![image.Key];
            using var preview = await Image.LoadAsync(previews.PreviewPath(sha), ct);
            Assert.True(Math.Max(preview.Width, preview.Height) <= EvaluationPreviews.PreviewMaxSide);
            using var thumb = await Image.LoadAsync(previews.ThumbnailPath(sha), ct);
            Assert.True(thumb.Height <= EvaluationPreviews.ThumbnailHeight);
        }

        // The model calls o0's copies neutrophils and cannot decide on one image of o3.
        var predictions = images.Images.Select(i => new ImagePrediction(i.Key, i.Label,
            i.Key.EndsWith("o3_0.png", StringComparison.Ordinal) ? [0f, 0f]
            : OriginalOf(i.Key) == "o0" ? [0f, 3f] : i.Label == 0 ? [3f, 0f] : [0f, 3f])).ToList();
        var stored = await evaluation.StoreAsync(runId, images, predictions, temperature: 1, rejectThreshold: 0.6, ct);
        Assert.Equal(5, stored.Report.ByOriginal!.Originals);

        var queries = services.GetRequiredService<RunReportQueries>();
        var table = (await queries.GetPredictionTableAsync(runId, stored.EvaluationId, ct))!;
        var rows = table.Predictions.Images;
        Assert.Equal(15, rows.Count);
        Assert.All(table.ThumbnailUrls, url => Assert.StartsWith($"api/runs/{runId}/previews/", url));
        Assert.Equal(stored.Report.Accuracy, rows.Count(r => r.Correct) / (double)rows.Count, 9);
        var undecided = Assert.Single(rows, r => r.Unidentified);
        Assert.Equal(("NEUTROPHIL/o3_0.png", "Unidentified"), (undecided.Image, undecided.Called));
        Assert.All(rows.Where(r => OriginalOf(r.Image) == "o0"), r => Assert.Equal(("EOSINOPHIL", "NEUTROPHIL", false), (r.Label, r.Called, r.Correct)));
        var csv = ReportCsv.WritePredictions(table.Predictions).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(16, csv.Length);
        Assert.Equal(rows.Count(r => !r.Correct), csv.Skip(1).Count(l => l.Split(',')[5] == "false"));

        // The review shows originals (five tiles), each with its picture.
        var session = (await services.GetRequiredService<ReviewService>().OpenAsync(stored.EvaluationId, ct))!;
        Assert.Equal(5, session.Queue.Tiles.Count);
        Assert.All(session.Images.Values, info => Assert.StartsWith($"api/runs/{runId}/previews/", info.ThumbnailUrl));

        // The same source again, with o1's copies gone from the folder: their pictures go, the others stay.
        var goneShas = images.Images.Where(i => OriginalOf(i.Key) == "o1").Select(i => images.ShaOfFile![i.Key]).ToList();
        foreach (var file in Directory.GetFiles(Path.Combine(folder.Path, "EOSINOPHIL"), "o1_*")) File.Delete(file);
        var again = await evaluation.ResolveAsync(labels, new EvaluationTarget.Folder(folder.Path, WbcPortal.Engine.Evaluation.EvaluationSource.Folder("cells")), ct, previews);
        await evaluation.StoreAsync(runId, again, predictions.Where(p => OriginalOf(p.Key) != "o1").ToList(), 1, 0.6, ct);
        Assert.All(goneShas, sha => Assert.False(File.Exists(previews.PreviewPath(sha)), "a replaced evaluation's picture stayed"));
        Assert.All(again.ShaOfFile!.Values, sha => Assert.True(File.Exists(previews.ThumbnailPath(sha))));
    }

    [Fact]
    public async Task A_fifo_in_an_evaluated_folder_is_set_aside_without_blocking()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        ImportFixtures.ClassFolders(folder.Path, ["EOSINOPHIL", "LYMPHOCYTE"], 2);
        PngBombs.MakeFifo(Path.Combine(folder.Path, "LYMPHOCYTE", "pipe.png"));
        PngBombs.MakeFifo(Path.Combine(folder.Path, "LYMPHOCYTE", "pipe"));
        var evaluation = services.GetRequiredService<EvaluationService>();

        var watch = Stopwatch.StartNew();
        var resolving = evaluation.ResolveAsync(["EOSINOPHIL", "LYMPHOCYTE"], new EvaluationTarget.Folder(folder.Path), TestContext.Current.CancellationToken);
        Assert.True(await Task.WhenAny(resolving, Task.Delay(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken)) == resolving, "resolving the folder blocked");
        var images = await resolving;
        TestContext.Current.TestOutputHelper?.WriteLine($"resolved in {watch.Elapsed.TotalSeconds:N1} s");

        Assert.Equal(4, images.Images.Count);
        Assert.Equal(
            [("LYMPHOCYTE/pipe", "not a regular file (a FIFO): not read"), ("LYMPHOCYTE/pipe.png", "not a regular file (a FIFO): not read")],
            images.Rejected.OrderBy(r => r.File, StringComparer.Ordinal));
    }
}
