using Microsoft.Playwright;
using SixLabors.ImageSharp;
using WbcPortal.Cli;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// Reading smears in a real browser with a real (tiny) run's model: two smears are uploaded, every white cell is boxed over its
/// smear, a box opens the window the model saw; a reviewer relabels a cell and removes a box by the keyboard, undoes the removal,
/// adds a cell by dragging, and the differential count follows each change; the corrections outlive a refresh, and the printable
/// report counts what the page counts. Screenshots go to the test screenshots folder (two-cell smear, a correction, the report).
/// </summary>
[Trait("Category", "Browser")]
[Trait("Category", "Torch")]
public class SmearsBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_technologist_reads_smears_corrects_a_box_and_a_class_and_the_count_follows()
    {
        var browser = fixture.RequireBrowser();
        var ct = TestContext.Current.CancellationToken;
        using var source = new TempDirectory("wbc-smears-src");
        int seed = 900;
        foreach (var part in new[] { "TRAIN", "TRAIN", "TRAIN", "VAL", "TEST" })
        {
            foreach (var cls in new[] { "EOSINOPHIL", "NEUTROPHIL" })
            {
                using var original = LeakCheckerTests.Smear(seed: seed++, width: 160, height: 120);
                var dir = Directory.CreateDirectory(Path.Combine(source.Path, part, cls)).FullName;
                await original.SaveAsPngAsync(Path.Combine(dir, $"o{seed}.png"), ct);
            }
        }
        var quiet = new StringWriter();
        var stderr = new StringWriter();
        await fixture.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "smear-cells", "--data-dir", data], quiet, quiet));
            Assert.True(await CliApp.RunAsync(["split", "smear-cells", "--strategy", "folders", "--name", "smear-folders", "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
            var config = Path.Combine(source.Path, "tiny.json");
            await File.WriteAllTextAsync(config, """
                { "inputHeight": 48, "inputWidth": 48, "crop": { "enabled": true, "size": 0.6 }, "round1": { "epochs": 2, "learningRate": 0.01 },
                  "round2": { "epochs": 0, "learningRate": 0.00001 }, "batchSize": 8, "seed": 5, "device": "cpu", "rejectTargetAccuracy": 0.5 }
                """, ct);
            Assert.True(await CliApp.RunAsync(["train", "--split", "smear-folders", "--config", config, "--name", "smear-run", "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
        });

        var uploads = Directory.CreateDirectory(Path.Combine(source.Path, "smears")).FullName;
        using (var two = TestImages.Field(640, 480, 5, [(150, 150, 40), (480, 330, 40)])) await two.SaveAsPngAsync(Path.Combine(uploads, "a-two-cells.png"), ct);
        using (var one = TestImages.Field(640, 480, 6, [(330, 250, 42)])) await one.SaveAsPngAsync(Path.Combine(uploads, "b-one-cell.png"), ct);

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1500, Height = 1100 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.Contains("the server responded with a status of", StringComparison.Ordinal)) errors.Add(m.Text); };
        var boxes = page.Locator("[data-testid=smears-box]");
        async Task<int> CountOf(string label) => int.Parse(await page.Locator($"[data-testid=smears-count-row][data-label={label}]").GetAttributeAsync("data-count") ?? "-1", System.Globalization.CultureInfo.InvariantCulture);

        await BrowserFixture.ScreenshotOnFailureAsync(page, "smears", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "smears"));
            // Corrections are recorded with the signed-in user: the page asks no name.
            await Assertions.Expect(page.Locator("[data-testid=smears-reviewer-signed-in]")).ToContainTextAsync(PortalProcess.AdminUser);
            await page.WaitForFunctionAsync("() => document.querySelector('input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("input[type=file]").SetInputFilesAsync(Directory.GetFiles(uploads).Order().ToArray());
            await Assertions.Expect(page.Locator("[data-testid=smears-item]")).ToHaveCountAsync(2, new() { Timeout = 60_000 });
            await Assertions.Expect(boxes).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=smears-count-total]")).ToContainTextAsync("3 cells on 2 smears");
            await page.WaitForFunctionAsync("() => [...document.querySelectorAll('[data-testid=smears-svg] image')].every(i => i.getBBox().width > 0)");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "smears-two-cells.png"), FullPage = true });

            // A box opens the window the model saw.
            await boxes.First.ClickAsync();
            await page.WaitForFunctionAsync("() => { const i = document.querySelector('[data-testid=smears-window]'); return i && i.complete && i.naturalWidth === 48; }");

            // Relabel by the keyboard: key 1 is the model's first class; the count follows.
            int eosinophils = await CountOf("EOSINOPHIL"), unidentified = await CountOf("Unidentified"), neutrophils = await CountOf("NEUTROPHIL");
            string before = await boxes.First.GetAttributeAsync("data-label") ?? "";
            string target = before == "EOSINOPHIL" ? "NEUTROPHIL" : "EOSINOPHIL";
            await page.Keyboard.PressAsync(target == "EOSINOPHIL" ? "1" : "2");
            await Assertions.Expect(boxes.First).ToHaveAttributeAsync("data-label", target);
            int expectedTarget = (target == "EOSINOPHIL" ? eosinophils : neutrophils) + 1;
            await Assertions.Expect(page.Locator($"[data-testid=smears-count-row][data-label={target}]")).ToHaveAttributeAsync("data-count", expectedTarget.ToString(System.Globalization.CultureInfo.InvariantCulture));

            // Remove the other box, then undo the removal.
            await boxes.Nth(1).ClickAsync();
            await page.Keyboard.PressAsync("Delete");
            await Assertions.Expect(boxes).ToHaveCountAsync(1);
            await Assertions.Expect(page.Locator("[data-testid=smears-count-total]")).ToContainTextAsync("2 cells");
            await page.Keyboard.PressAsync("z");
            await Assertions.Expect(boxes).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=smears-count-total]")).ToContainTextAsync("3 cells");

            // Add a cell the detector missed: A, then drag over it; it starts Unidentified, and key 2 gives it a class.
            await page.Keyboard.PressAsync("a");
            var draw = page.Locator("[data-testid=smears-draw]");
            await Assertions.Expect(draw).ToBeVisibleAsync();
            var area = (await draw.BoundingBoxAsync())!;
            await page.Mouse.MoveAsync(area.X + 40, area.Y + 300);
            await page.Mouse.DownAsync();
            await page.Mouse.MoveAsync(area.X + 120, area.Y + 380, new() { Steps = 4 });
            await page.Mouse.UpAsync();
            await Assertions.Expect(boxes).ToHaveCountAsync(3);
            await Assertions.Expect(page.Locator("[data-testid=smears-count-total]")).ToContainTextAsync("4 cells");
            await page.Keyboard.PressAsync("2");
            await Assertions.Expect(boxes.Nth(2)).ToHaveAttributeAsync("data-label", "NEUTROPHIL");
            // A class the model does not know is named and counted under its own name.
            var other = page.Locator("input[data-testid=smears-other-class], [data-testid=smears-other-class] input").First;
            await other.FillAsync("basophil");
            await other.PressAsync("Enter");
            await Assertions.Expect(boxes.Nth(2)).ToHaveAttributeAsync("data-label", "BASOPHIL");
            await Assertions.Expect(page.Locator("[data-testid=smears-count-row][data-label=BASOPHIL]")).ToHaveAttributeAsync("data-count", "1");
            await Assertions.Expect(page.Locator("[data-testid=smears-corrections]")).ToContainTextAsync(PortalProcess.AdminUser);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "smears-corrected.png"), FullPage = true });

            // The review queue: every cell of the batch, the corrected ones last; a tile opens its cell on its smear, selected.
            await page.Locator("[data-testid=smears-view-queue]").ClickAsync();
            var tiles = page.Locator("[data-testid=smears-queue-tile]");
            await Assertions.Expect(tiles).ToHaveCountAsync(4);
            await Assertions.Expect(tiles.Last).ToContainTextAsync("✎");
            await Assertions.Expect(tiles.First).Not.ToContainTextAsync("✎");
            await page.WaitForFunctionAsync("() => [...document.querySelectorAll('[data-testid=smears-queue-tile] img')].every(i => i.complete && i.naturalWidth === 48)");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "smears-queue.png"), FullPage = true });
            await tiles.First.ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=smears-cell]")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("[data-testid=smears-svg]")).ToBeVisibleAsync();
            await page.Locator("[data-testid=smears-item]").First.ClickAsync();
            await Assertions.Expect(boxes).ToHaveCountAsync(3);

            // A refresh finds the batch with its corrections; the report counts what the page counts.
            int total = 4, identified = 4 - await CountOf("Unidentified");
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(page.Url));
            await Assertions.Expect(boxes).ToHaveCountAsync(3);
            await Assertions.Expect(page.Locator("[data-testid=smears-count-total]")).ToContainTextAsync($"{total} cells on 2 smears: {identified} identified");
            string batch = System.Web.HttpUtility.ParseQueryString(new Uri(page.Url).Query)["batch"]!;
            var report = await context.NewPageAsync();
            await report.GotoAsync(new Uri(fixture.Portal.BaseAddress, $"api/smears/{batch}/report.html").ToString());
            await Assertions.Expect(report.Locator("body")).ToContainTextAsync($"{total} white cells found, {identified} identified");
            await Assertions.Expect(report.Locator("body")).ToContainTextAsync("Record of corrections");
            await report.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "smears-report.png"), FullPage = true });
            _ = unidentified;
        });
        Assert.Empty(errors);
    }
}
