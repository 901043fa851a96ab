using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using WbcPortal.Cli;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// A finished run's dashboard: the model report, a folder evaluated from the "Evaluate on…" panel in the background,
/// a mistake's images opened from the confusion matrix, and the report exports.
/// </summary>
[Trait("Category", "Browser")]
[Trait("Category", "Torch")]
public class DashboardBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_finished_runs_dashboard_opens_the_images_of_a_confusion_cell()
    {
        var browser = fixture.RequireBrowser();
        var ct = TestContext.Current.CancellationToken;
        using var source = new TempDirectory("wbc-dash-src");
        ImportFixtures.ClassFolders(source.Path, ["EOSINOPHIL", "NEUTROPHIL"], 10, seed: 5);
        var quiet = new StringWriter();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        await fixture.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "dash-cells", "--data-dir", data], quiet, quiet));
            Assert.Equal(0, await CliApp.RunAsync(["split", "dash-cells", "--strategy", "random", "--ratios", "0.5,0.25,0.25", "--name", "dash-split", "--data-dir", data], quiet, quiet));
            var config = Path.Combine(source.Path, "tiny.json");
            await File.WriteAllTextAsync(config, """
                { "inputHeight": 48, "inputWidth": 64, "round1": { "epochs": 1, "learningRate": 0.003 },
                  "round2": { "epochs": 1, "learningRate": 0.0001, "unfrozenStages": ["layer4"] }, "batchSize": 8, "seed": 3, "device": "cpu" }
                """, ct);
            Assert.True(await CliApp.RunAsync(["train", "--split", "dash-split", "--config", config, "--name", "dash <run>", "--json", "--data-dir", data], stdout, stderr) == 0, stderr.ToString());
        });
        int runId = JsonDocument.Parse(stdout.ToString()).RootElement.GetProperty("id").GetInt32();

        // The same images under both class folders: whatever the model predicts for one, its twin is a mistake,
        // so this evaluation has an off-diagonal cell for sure. One file is not an image and is skipped.
        // Both live under the portal's server root, the only server folder its pages may read.
        var twins = Directory.CreateDirectory(Path.Combine(fixture.ServerRoot, "twins"));
        foreach (var cls in new[] { "EOSINOPHIL", "NEUTROPHIL" })
        {
            var dir = Directory.CreateDirectory(Path.Combine(twins.FullName, cls)).FullName;
            foreach (var file in Directory.GetFiles(Path.Combine(source.Path, "EOSINOPHIL"))) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }
        await File.WriteAllTextAsync(Path.Combine(twins.FullName, "EOSINOPHIL", "notes.txt"), "not an image", ct);
        var unknown = Directory.CreateDirectory(Path.Combine(fixture.ServerRoot, "unknown"));
        ImportFixtures.ClassFolders(unknown.FullName, ["BASOPHIL"], 1);
        // The same class folders as an uploaded zip.
        string zip = Path.Combine(source.Path, "twins.zip");
        System.IO.Compression.ZipFile.CreateFromDirectory(twins.FullName, zip);

        await CheckExportsAsync(runId, ct);

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "dashboard", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/{runId}"));
            await Assertions.Expect(page.Locator("[data-testid=round-table] tbody tr")).ToHaveCountAsync(4);
            await Assertions.Expect(page.Locator("[data-testid=report-headline]")).ToContainTextAsync("split dash-split / test");
            await Assertions.Expect(page.Locator("[data-testid=classification-report]")).ToContainTextAsync("weighted avg");
            await Assertions.Expect(page.Locator("[data-testid=report-class]")).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=cm-cell]")).ToHaveCountAsync(4);
            await Assertions.Expect(page.Locator("[data-testid=evaluation-row]")).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=reliability-diagram] .js-plotly-plot")).ToHaveCountAsync(1);
            await Assertions.Expect(page.Locator("[data-testid=calibration-summary]")).ToContainTextAsync("after temperature scaling");

            // A split cell's gallery shows thumbnails.
            await OpenAnyCellAsync(page, offDiagonal: null);
            await Assertions.Expect(page.Locator("[data-testid=gallery-item] img").First).ToBeVisibleAsync();
            Assert.True(await BrowserFixture.ImageLoadsAsync(page.Locator("[data-testid=gallery-item] img").First));
            await page.Locator("[data-testid=gallery-close]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=prediction-gallery]")).ToHaveCountAsync(0);

            // Folders are picked under the server root only; one with an unknown class fails with its reason; a good one runs in the background.
            await page.Locator("input[data-testid=evaluate-kind-folder]").CheckAsync();
            await page.Locator("[data-testid=server-folder]", new() { HasText = "unknown" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=server-folder-path]")).ToContainTextAsync("unknown");
            await page.Locator("[data-testid=server-folder-pick]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=evaluation-job-error]")).ToContainTextAsync("Folder 'BASOPHIL' is not a class the model knows", new() { Timeout = 60_000 });
            await page.Locator("[data-testid=server-folder-path] a", new() { HasText = "server root" }).ClickAsync();
            await page.Locator("[data-testid=server-folder]", new() { HasText = "twins" }).ClickAsync();
            await page.Locator("[data-testid=server-folder-pick]").ClickAsync();
            var done = page.Locator("[data-testid=evaluation-job][data-state=Succeeded]");
            await Assertions.Expect(done).ToHaveCountAsync(1, new() { Timeout = 120_000 });
            await Assertions.Expect(done.Locator("[data-testid=evaluation-job-skipped]")).ToContainTextAsync("notes.txt");

            // A zip of the same class folders, uploaded: evaluated under its own name, its unpacked copy gone after.
            await page.Locator("input[data-testid=evaluate-kind-zip]").CheckAsync();
            await page.WaitForFunctionAsync("() => document.querySelector('input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("input[type=file]").SetInputFilesAsync(zip);
            await Assertions.Expect(done).ToHaveCountAsync(2, new() { Timeout = 120_000 });
            Assert.Empty(Directory.Exists(Path.Combine(fixture.DataDirectory, "uploads")) ? Directory.GetDirectories(Path.Combine(fixture.DataDirectory, "uploads")) : []);

            // The jobs and their results survive a refresh.
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/{runId}"));
            await Assertions.Expect(page.Locator("[data-testid=evaluation-job]")).ToHaveCountAsync(3);
            await Assertions.Expect(page.Locator("[data-testid=evaluation-row]")).ToHaveCountAsync(4);
            await Assertions.Expect(page.Locator("[data-testid=evaluation-row]", new() { HasText = "zip twins.zip" })).ToHaveCountAsync(1);
            await page.Locator("[data-testid=evaluation-job][data-state=Succeeded] [data-testid=evaluation-job-show]").Last.ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=report-headline]")).ToContainTextAsync($"folder {twins.FullName}");
            await Assertions.Expect(page.Locator("[data-testid=report-headline]")).ToContainTextAsync("20 images");

            // An off-diagonal cell opens its mistakes: file names, true → predicted, every class's probability.
            var (actual, predicted, count) = await OpenAnyCellAsync(page, offDiagonal: true);
            Assert.NotEqual(actual, predicted);
            await Assertions.Expect(page.Locator("[data-testid=gallery-title]")).ToContainTextAsync("misclassified");
            await Assertions.Expect(page.Locator("[data-testid=gallery-item]")).ToHaveCountAsync(count);
            await Assertions.Expect(page.Locator("[data-testid=gallery-file]").First).ToContainTextAsync(".jpg");
            await Assertions.Expect(page.Locator("[data-testid=gallery-item]").First.Locator(".wbc-prob")).ToHaveCountAsync(2);
            // A folder's images were never imported: their stored previews show, not empty pictures.
            await Assertions.Expect(page.Locator("[data-testid=gallery-item] img").First).ToBeVisibleAsync();
            Assert.True(await BrowserFixture.ImageLoadsAsync(page.Locator("[data-testid=gallery-item] img").First), "the folder image's preview did not load");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "dashboard-gallery.png"), FullPage = true });

            // Every image of the folder evaluation in one table; its mistakes count is the CSV download's (one query for both).
            var table = page.Locator("[data-testid=predictions-table]");
            await Assertions.Expect(table.Locator("[data-testid=predictions-rows] tbody tr")).ToHaveCountAsync(20);
            await Assertions.Expect(table.Locator("[data-testid=predictions-all]")).ToContainTextAsync("All 20");
            string wrongChip = await table.Locator("[data-testid=predictions-wrong]").InnerTextAsync();
            int wrongShown = int.Parse(wrongChip.Split(' ').Last(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(wrongShown >= count, $"'{wrongChip}' but the confusion cell alone holds {count} mistakes");
            string csvHref = (await table.Locator("[data-testid=predictions-csv]").GetAttributeAsync("href"))!;
            using (var http = fixture.Portal.CreateClient())
            {
                var csv = (await http.GetStringAsync(csvHref, ct)).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(["image", "original", "label", "called", "guess", "correct", "unidentified", "p_EOSINOPHIL", "p_NEUTROPHIL"], csv[0].Split(','));
                Assert.Equal(20, csv.Length - 1);
                Assert.Equal(wrongShown, csv.Skip(1).Count(line => line.Split(',')[5] == "false"));
                // The twins are copies of 10 originals: one in each class folder, so the grouper finds 10 per class.
                Assert.Equal(20, csv.Skip(1).Select(line => line.Split(',')[1]).Where(o => o.Length > 0).Count());
                Assert.Equal(20, csv.Skip(1).Select(line => (line.Split(',')[2], line.Split(',')[1])).Distinct().Count());
                string json = await http.GetStringAsync(csvHref.Replace(".csv", ".json"), ct);
                Assert.Equal(20, JsonDocument.Parse(json).RootElement.GetProperty("images").GetArrayLength());
            }
            await table.Locator("[data-testid=predictions-wrong]").ClickAsync();
            await Assertions.Expect(table.Locator("[data-testid=predictions-rows] tbody tr")).ToHaveCountAsync(Math.Max(1, wrongShown));
            Assert.True(await BrowserFixture.ImageLoadsAsync(table.Locator("[data-testid=predictions-rows] tbody tr img").First), "a table row's thumbnail did not load");
            await table.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "dashboard-predictions-table.png") });

            // The review opens the folder evaluation with its pictures.
            await page.Locator("[data-testid=review-this-evaluation]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=review-tile]").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
            Assert.True(await BrowserFixture.ImageLoadsAsync(page.Locator("[data-testid=review-tile] img").First), "a review tile of a folder evaluation shows no picture");
            await page.GoBackAsync();
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/{runId}"));
            await page.Locator("[data-testid=evaluation-job][data-state=Succeeded] [data-testid=evaluation-job-show]").Last.ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=report-headline]")).ToContainTextAsync($"folder {twins.FullName}");

            await page.Locator("input[data-testid=cm-normalise]").CheckAsync();
            await Assertions.Expect(page.Locator("[data-testid=confusion-matrix]")).ToContainTextAsync("%");
            await page.Locator("[data-testid=confusion-matrix]").ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "dashboard-heatmap-normalised.png") });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }

    /// <summary>Clicks the first cell with images (off the diagonal, on it, or either: null) and waits for its gallery; returns the cell.</summary>
    private static async Task<(int Actual, int Predicted, int Count)> OpenAnyCellAsync(IPage page, bool? offDiagonal)
    {
        var cells = await page.Locator("[data-testid=cm-cell]").EvaluateAllAsync<int[][]>(
            "els => els.map(e => [Number(e.dataset.actual), Number(e.dataset.predicted), Number(e.dataset.count)])");
        var cell = cells.First(c => c[2] > 0 && (offDiagonal is null || (c[0] != c[1]) == offDiagonal));
        await page.Locator($"[data-testid=cm-cell][data-actual='{cell[0]}'][data-predicted='{cell[1]}']").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=gallery-item]").First).ToBeVisibleAsync();
        return (cell[0], cell[1], cell[2]);
    }

    private async Task CheckExportsAsync(int runId, CancellationToken ct)
    {
        using var http = fixture.Portal.CreateClient();
        int csvPredictions = -1;
        foreach (var (extension, mediaType) in new[] { ("html", "text/html"), ("csv", "text/csv"), ("json", "application/json") })
        {
            using var response = await http.GetAsync($"api/runs/{runId}/report.{extension}", ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
            Assert.Equal($"dash-run-report.{extension}", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
            string body = await response.Content.ReadAsStringAsync(ct);
            switch (extension)
            {
                case "html":
                    Assert.Contains("<svg", body);
                    Assert.Contains("dash &lt;run&gt;", body);
                    Assert.DoesNotContain("src=", body);
                    break;
                case "csv":
                    Assert.Contains("section,confusion matrix,split dash-split / test", body);
                    // Every image of the test part, after a header row.
                    Assert.Contains("section,predictions,split dash-split / test", body);
                    csvPredictions = body.Split("section,predictions,")[1].Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length - 2;
                    break;
                default:
                    var json = JsonDocument.Parse(body).RootElement;
                    Assert.Equal("dash <run>", json.GetProperty("runName").GetString());
                    Assert.Equal(2, json.GetProperty("evaluations").GetArrayLength());
                    Assert.Equal("test", json.GetProperty("predictions").GetProperty("part").GetString());
                    // As many rows as the test part has images, in the CSV too.
                    int testImages = json.GetProperty("evaluations").EnumerateArray().Single(e => e.GetProperty("part").GetString() == "test").GetProperty("report").GetProperty("total").GetInt32();
                    Assert.Equal(testImages, json.GetProperty("predictions").GetProperty("images").GetArrayLength());
                    Assert.Equal(testImages, csvPredictions);
                    break;
            }
        }
        using var missing = await http.GetAsync("api/runs/987654/report.html", ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}
