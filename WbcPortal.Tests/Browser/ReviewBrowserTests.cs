using System.Text.Json;
using Microsoft.Playwright;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Cli;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// The review loop in a real browser on a real (tiny) run: from the dashboard to the review page, the EOSINOPHIL →
/// NEUTROPHIL mistakes walked with the keyboard, one original relabelled, one image excluded, a new dataset version made
/// with its split carried over, and its changes found on the version's page.
/// </summary>
[Trait("Category", "Browser")]
[Trait("Category", "Torch")]
public class ReviewBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_reviewer_settles_eosinophil_neutrophil_mistakes_by_keyboard_and_makes_a_new_version()
    {
        var browser = fixture.RequireBrowser();
        var ct = TestContext.Current.CancellationToken;
        using var source = new TempDirectory("wbc-review-src");
        // Eosinophils are hue-shifted smears, neutrophils plain ones: an easy rule for the head to learn. Two test
        // eosinophil originals are plain, so the model calls them neutrophils: EOSINOPHIL → NEUTROPHIL mistakes for sure.
        var random = new Random(11);
        int seed = 900;
        async Task Original(string part, string cls, bool shifted, int copies = 3)
        {
            using var original = LeakCheckerTests.Smear(seed: seed++, width: 160, height: 120);
            if (shifted) original.Mutate(c => c.Hue(150));
            var dir = Directory.CreateDirectory(Path.Combine(source.Path, part, cls)).FullName;
            for (int k = 0; k < copies; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                await copy.SaveAsPngAsync(Path.Combine(dir, $"o{seed}_{k}.png"), ct);
            }
        }
        for (int i = 0; i < 5; i++)
        {
            await Original("TRAIN", "EOSINOPHIL", shifted: true);
            await Original("TRAIN", "NEUTROPHIL", shifted: false);
        }
        await Original("VAL", "EOSINOPHIL", shifted: true);
        await Original("VAL", "NEUTROPHIL", shifted: false);
        await Original("TEST", "EOSINOPHIL", shifted: false);
        await Original("TEST", "EOSINOPHIL", shifted: false);
        await Original("TEST", "EOSINOPHIL", shifted: true);
        await Original("TEST", "NEUTROPHIL", shifted: false);

        var quiet = new StringWriter();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        await fixture.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "review-cells", "--data-dir", data], quiet, quiet));
            Assert.True(await CliApp.RunAsync(["split", "review-cells", "--strategy", "folders", "--name", "review-folders", "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
            var config = Path.Combine(source.Path, "tiny.json");
            await File.WriteAllTextAsync(config, """
                { "inputHeight": 48, "inputWidth": 64, "round1": { "epochs": 4, "learningRate": 0.01 },
                  "round2": { "epochs": 1, "learningRate": 0.00001, "unfrozenStages": ["layer4"] }, "batchSize": 8, "seed": 5, "device": "cpu" }
                """, ct);
            Assert.True(await CliApp.RunAsync(["train", "--split", "review-folders", "--config", config, "--name", "review-run", "--json", "--data-dir", data], stdout, stderr) == 0, stderr.ToString());
        });
        int runId = JsonDocument.Parse(stdout.ToString()).RootElement.GetProperty("id").GetInt32();

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1500, Height = 1100 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "review", async () =>
        {
            // From the run's dashboard to its review.
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/{runId}"));
            await page.Locator("[data-testid=review-this-evaluation]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=review-summary]")).ToContainTextAsync("review-run");

            // Decisions are recorded with the signed-in user: the page asks no name.
            await Assertions.Expect(page.Locator("[data-testid=reviewer-name]")).ToHaveCountAsync(0);
            await Assertions.Expect(page.Locator("[data-testid=reviewer]")).ToContainTextAsync(PortalProcess.AdminUser);

            // The keyboard walks the whole queue: → then ← comes back to the first tile.
            var tiles = page.Locator("[data-testid=review-tile]");
            var all = page.Locator("[data-testid=filter-all]");
            int originals = int.Parse(System.Text.RegularExpressions.Regex.Match(await all.InnerTextAsync(), @"\((\d+)\)").Groups[1].Value);
            Assert.True(originals >= 2, $"{originals} originals in the test part");
            await all.ClickAsync();
            await Assertions.Expect(tiles).ToHaveCountAsync(originals);
            var grid = page.Locator("[data-testid=review-grid]");
            await grid.FocusAsync();
            await page.Keyboard.PressAsync("ArrowRight");
            await Assertions.Expect(tiles.Nth(1)).ToHaveAttributeAsync("data-selected", "true");
            await page.Keyboard.PressAsync("ArrowLeft");
            await Assertions.Expect(tiles.Nth(0)).ToHaveAttributeAsync("data-selected", "true");

            // The EOSINOPHIL → NEUTROPHIL chip narrows the queue to those originals: the plain-looking test eosinophils.
            var pairChip = page.Locator("[data-testid=filter-pair][data-pair='EOSINOPHIL-NEUTROPHIL']");
            int count = int.Parse(System.Text.RegularExpressions.Regex.Match(await pairChip.InnerTextAsync(), @"(\d+) orig").Groups[1].Value);
            Assert.True(count >= 1, "the plain-looking test eosinophils are called neutrophils");
            await pairChip.ClickAsync();
            await Assertions.Expect(tiles).ToHaveCountAsync(count);
            await Assertions.Expect(tiles.First).ToHaveAttributeAsync("data-label", "EOSINOPHIL");
            await Assertions.Expect(page.Locator("[data-testid=review-tile][data-called='NEUTROPHIL']")).ToHaveCountAsync(count);
            int copies = int.Parse((await tiles.First.GetAttributeAsync("data-images"))!);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "review-queue.png"), FullPage = true });

            // 2 = NEUTROPHIL: the whole original is relabelled.
            await grid.FocusAsync();
            await page.Keyboard.PressAsync("2");
            await Assertions.Expect(page.Locator("[data-testid=review-done]")).ToContainTextAsync($"EOSINOPHIL → NEUTROPHIL on {copies} images (the whole original)");
            await Assertions.Expect(tiles.Nth(0)).ToHaveAttributeAsync("data-decided", "EOSINOPHIL → NEUTROPHIL");

            // Back on it, one copy chosen, then x: only that image is excluded (the later decision wins for it).
            await tiles.Nth(0).ClickAsync();
            await page.Locator("[data-testid=review-copy]").First.ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=review-scope]")).ToContainTextAsync("this image only");
            await page.Keyboard.PressAsync("x");
            await Assertions.Expect(page.Locator("[data-testid=review-done]")).ToContainTextAsync("excluded on 1 image");
            await Assertions.Expect(page.Locator("[data-testid=detail-decision]")).ToContainTextAsync("excluded (1 of");

            // g shows why: the window the model sees and the Grad-CAM map of its call, computed from the run's network.
            await page.Keyboard.PressAsync("g");
            foreach (var id in new[] { "model-window", "gradcam" })
            {
                var img = page.Locator($"[data-testid={id}]");
                await Assertions.Expect(img).ToBeVisibleAsync();
                await page.WaitForFunctionAsync($"() => {{ const i = document.querySelector('[data-testid={id}]'); return i && i.complete && i.naturalWidth > 0; }}", null, new() { Timeout = 60_000 });
            }
            await Assertions.Expect(page.Locator("[data-testid=gradcam-panel]")).ToContainTextAsync("Grad-CAM for NEUTROPHIL");

            // n: the nearest training images in the model's feature space (the run's index is computed once, in the background).
            await grid.FocusAsync();
            await page.Keyboard.PressAsync("n");
            await Assertions.Expect(page.Locator("[data-testid=neighbour]")).ToHaveCountAsync(8, new() { Timeout = 120_000 });
            await Assertions.Expect(page.Locator("[data-testid=neighbours]")).ToContainTextAsync("its nearest training images are");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "review-decided.png"), FullPage = true });

            // The decisions survive a refresh.
            await page.ReloadAsync();
            await Assertions.Expect(page.Locator("[data-testid=review-tile]").Nth(0)).ToHaveAttributeAsync("data-decided", "excluded");
            await Assertions.Expect(page.Locator("[data-testid=reviewer]")).ToContainTextAsync(PortalProcess.AdminUser);

            // One count of decisions in force, the same on the review page and the dataset page (LabelDecision.CountInForce).
            await Assertions.Expect(page.Locator("[data-testid=review-decisions-in-force]")).ToHaveTextAsync("2");

            // A new dataset version from the decisions, with the folders split carried over.
            await page.Locator("[data-testid=review-make-version]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=version-decisions-in-force]")).ToHaveTextAsync("2");
            await Assertions.Expect(page.Locator("[data-testid=version-decisions]")).ToContainTextAsync($"2 review decisions in force, deciding {copies - 1} images relabelled, 1 image excluded");
            await page.Locator("[data-testid=version-create]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=version-result]")).ToContainTextAsync("Made version 2", new() { Timeout = 120_000 });
            await Assertions.Expect(page.Locator("[data-testid=version-result]")).ToContainTextAsync("review-folders-v2");
            await page.Locator("[data-testid=version-link]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=dataset-version]")).ToContainTextAsync("version 2");
            await Assertions.Expect(page.Locator("[data-testid=version-of]")).ToContainTextAsync("review-cells");
            await Assertions.Expect(page.Locator("[data-testid=version-change]")).ToHaveCountAsync(copies);
            await Assertions.Expect(page.Locator("[data-testid=version-changes]")).ToContainTextAsync("EOSINOPHIL: excluded");
            await Assertions.Expect(page.Locator("[data-testid=version-changes]")).ToContainTextAsync(PortalProcess.AdminUser);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "review-version.png"), FullPage = true });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
