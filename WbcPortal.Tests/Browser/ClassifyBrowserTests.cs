using Microsoft.Playwright;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Cli;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// Classifying new cells in a real browser with a real (tiny) run's model: images and a file that is not one are
/// dropped on the page, each image gets its answer with top-3 bars and the bad file its reason; a row opens the window
/// the model saw and, on request, its Grad-CAM; the batch survives a refresh and a restart of the portal, and its CSV
/// holds every row.
/// </summary>
[Trait("Category", "Browser")]
[Trait("Category", "Torch")]
public class ClassifyBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_technologist_classifies_uploads_opens_a_cells_window_and_grad_cam_and_finds_the_batch_after_a_restart()
    {
        var browser = fixture.RequireBrowser();
        var ct = TestContext.Current.CancellationToken;
        using var source = new TempDirectory("wbc-classify-src");
        int seed = 700;
        async Task Original(string part, string cls, bool shifted)
        {
            using var original = LeakCheckerTests.Smear(seed: seed++, width: 160, height: 120);
            if (shifted) original.Mutate(c => c.Hue(150));
            var dir = Directory.CreateDirectory(Path.Combine(source.Path, part, cls)).FullName;
            await original.SaveAsPngAsync(Path.Combine(dir, $"o{seed}.png"), ct);
        }
        foreach (var part in new[] { "TRAIN", "TRAIN", "TRAIN", "VAL", "TEST" })
        {
            await Original(part, "EOSINOPHIL", shifted: true);
            await Original(part, "NEUTROPHIL", shifted: false);
        }
        var quiet = new StringWriter();
        var stderr = new StringWriter();
        await fixture.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "classify-cells", "--data-dir", data], quiet, quiet));
            Assert.True(await CliApp.RunAsync(["split", "classify-cells", "--strategy", "folders", "--name", "classify-folders", "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
            var config = Path.Combine(source.Path, "tiny.json");
            await File.WriteAllTextAsync(config, """
                { "inputHeight": 48, "inputWidth": 64, "round1": { "epochs": 2, "learningRate": 0.01 },
                  "round2": { "epochs": 1, "learningRate": 0.00001, "unfrozenStages": ["layer4"] }, "batchSize": 8, "seed": 5, "device": "cpu" }
                """, ct);
            Assert.True(await CliApp.RunAsync(["train", "--split", "classify-folders", "--config", config, "--name", "classify-run", "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
        });

        // New cells the model never saw, and a file that is not an image.
        var uploads = Directory.CreateDirectory(Path.Combine(source.Path, "new")).FullName;
        for (int i = 0; i < 3; i++)
        {
            using var cell = LeakCheckerTests.Smear(seed: 800 + i, width: 160, height: 120);
            if (i == 0) cell.Mutate(c => c.Hue(150));
            await cell.SaveAsPngAsync(Path.Combine(uploads, $"new-{i}.png"), ct);
        }
        await File.WriteAllTextAsync(Path.Combine(uploads, "notes.jpg"), "not an image", ct);

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.Contains("the server responded with a status of", StringComparison.Ordinal)) errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "classify", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "classify"));
            await Assertions.Expect(page.Locator("[data-testid=classify-model-facts]")).ToContainTextAsync("classify-run");
            await page.WaitForFunctionAsync("() => document.querySelector('input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("input[type=file]").SetInputFilesAsync(Directory.GetFiles(uploads).Order().ToArray());
            await Assertions.Expect(page.Locator("[data-testid=classify-row]")).ToHaveCountAsync(4, new() { Timeout = 60_000 });
            await Assertions.Expect(page.Locator("[data-testid=classify-count-errors]")).ToContainTextAsync("1");
            await Assertions.Expect(page.Locator("[data-testid=classify-table]")).ToContainTextAsync("notes.jpg");
            string counts = await page.Locator("[data-testid=classify-counts]").InnerTextAsync();
            Assert.Contains("All 4", counts.Replace("\n", " ", StringComparison.Ordinal));

            // A row opens what the model saw, then its Grad-CAM for a class.
            await page.Locator("[data-testid=classify-row]").First.ClickAsync();
            await page.WaitForFunctionAsync("() => { const i = document.querySelector('[data-testid=classify-window]'); return i && i.complete && i.naturalWidth === 64; }");
            await page.Locator("[data-testid=classify-gradcam-class]").First.ClickAsync();
            await page.WaitForFunctionAsync("() => { const i = document.querySelector('[data-testid=classify-gradcam]'); return i && i.complete && i.naturalWidth === 64; }", null, new() { Timeout = 60_000 });

            // A folder under the server root is classified the same way (and only such a folder can be picked).
            string batchUrlOfUploads = page.Url;
            var shared = Directory.CreateDirectory(Path.Combine(fixture.ServerRoot, "ward-7", "slide-2")).FullName;
            foreach (var file in Directory.GetFiles(uploads, "*.png")) File.Copy(file, Path.Combine(shared, Path.GetFileName(file)));
            await page.Locator("[data-testid=classify-server-folder]").ClickAsync();
            await page.Locator("[data-testid=server-folder]", new() { HasText = "ward-7" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=server-folder]", new() { HasText = "slide-2" })).ToContainTextAsync("3");
            await page.Locator("[data-testid=server-folder-pick]").ClickAsync();
            await page.WaitForURLAsync(url => url != batchUrlOfUploads && url.Contains("batch=", StringComparison.Ordinal));
            await Assertions.Expect(page.Locator("[data-testid=classify-row]")).ToHaveCountAsync(3, new() { Timeout = 60_000 });
            await Assertions.Expect(page.Locator("[data-testid=classify-table]")).ToContainTextAsync("ward-7/slide-2/new-0.png");
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(batchUrlOfUploads));
            await Assertions.Expect(page.Locator("[data-testid=classify-row]")).ToHaveCountAsync(4);

            // The batch is in the address: a refresh finds it.
            string batchUrl = page.Url;
            Assert.Contains("batch=", batchUrl, StringComparison.Ordinal);
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(batchUrl));
            await Assertions.Expect(page.Locator("[data-testid=classify-row]")).ToHaveCountAsync(4);

            // So does a portal started afresh on the same data folder, with thumbnails and the CSV.
            Assert.Empty(errors);
            await fixture.WithPortalStoppedAsync(_ => Task.CompletedTask);
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, new Uri(batchUrl).PathAndQuery.TrimStart('/')));
            errors.Clear(); // the old page's circuit lost its server while it stopped
            await Assertions.Expect(page.Locator("[data-testid=classify-row]")).ToHaveCountAsync(4);
            await page.WaitForFunctionAsync("() => [...document.querySelectorAll('[data-testid=classify-row] img')].every(i => i.complete && i.naturalWidth > 0)");
            var download = await page.RunAndWaitForDownloadAsync(() => page.Locator("[data-testid=classify-csv]").ClickAsync());
            string csv = await File.ReadAllTextAsync((await download.PathAsync())!, ct);
            Assert.Equal(5, csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length); // header + 3 answers + the bad file
            Assert.Contains("notes.jpg", csv, StringComparison.Ordinal);
        });
        Assert.Empty(errors);
    }
}
