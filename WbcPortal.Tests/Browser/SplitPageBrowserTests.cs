using Microsoft.Playwright;
using SixLabors.ImageSharp;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>A split's own page in a real browser: made from the dataset page, opened from its row, honesty chip, tables and suspect pairs.</summary>
[Trait("Category", "Browser")]
public class SplitPageBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_random_split_of_copies_opens_on_its_page_as_leaky_by_design_with_its_suspect_pairs_side_by_side()
    {
        var browser = fixture.RequireBrowser();
        using var dir = new TempDirectory();
        var zip = Path.Combine(dir.Path, "copies.zip");
        // Eight synthetic cells, five augmented copies each: a random split puts copies of one cell on both sides.
        var entries = new List<(string, byte[])>();
        var random = new Random(3);
        for (int o = 0; o < 8; o++)
        {
            using var original = LeakCheckerTests.Smear(seed: 200 + o);
            for (int k = 0; k < 5; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                using var stream = new MemoryStream();
                copy.SaveAsJpeg(stream);
                entries.Add(($"{(o < 4 ? "EOSINOPHIL" : "NEUTROPHIL")}/c{o}_{k}.jpg", stream.ToArray()));
            }
        }
        ImportFixtures.Zip(zip, entries);

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "split-page", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "datasets"));
            await page.Locator("input[data-testid=dataset-name]").FillAsync("copies");
            await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-panel] input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("[data-testid=import-panel] input[type=file]").SetInputFilesAsync(zip);
            await Assertions.Expect(page.Locator("[data-testid=import-result]").First).ToContainTextAsync("Imported 40 images", new() { Timeout = 60_000 });

            await page.Locator("[data-testid=dataset-link]", new() { HasTextString = "copies" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("copies");
            // A grouped split first (the default strategy): whatever the grouper made of these copies, its page shows the check.
            await page.Locator("[data-testid=create-split]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=split-table]")).ToContainTextAsync("copies-grouped-s42", new() { Timeout = 120_000 });
            await page.Locator("[data-testid=split-strategy]").ClickAsync();
            await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "Random, stratified" }).ClickAsync();
            // The warning renders once the circuit holds the new strategy: only then create.
            await Assertions.Expect(page.GetByText("A random split puts copies of the same cell")).ToBeVisibleAsync();
            await page.Locator("[data-testid=create-split]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=split-table]")).ToContainTextAsync("copies-random-s42", new() { Timeout = 120_000 });
            await Assertions.Expect(page.Locator("tr", new() { HasTextString = "copies-random-s42" }).Locator("[data-testid=split-honesty]")).ToContainTextAsync("leaky by design");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "splits-panel-honesty.png"), FullPage = true });

            await page.Locator("[data-testid=split-link]", new() { HasTextString = "copies-grouped-s42" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("copies-grouped-s42");
            await Assertions.Expect(page.Locator("[data-testid=originals-table]")).ToContainTextAsync("EOSINOPHIL");
            await Assertions.Expect(page.Locator("[data-testid=leak-check-summary]")).ToContainTextAsync("40 images checked");
            await page.WaitForFunctionAsync("() => [...document.querySelectorAll('[data-testid=suspect-pair] img, [data-testid=member-thumb] img')].every(i => i.complete && i.naturalWidth > 0)");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "split-page-grouped.png"), FullPage = true });
            await page.GoBackAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("copies");

            await page.Locator("[data-testid=split-link]", new() { HasTextString = "copies-random-s42" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("copies-random-s42");
            await Assertions.Expect(page.Locator("[data-testid=split-honesty]").First).ToContainTextAsync("leaky by design");
            await Assertions.Expect(page.Locator("[data-testid=images-table]")).ToContainTextAsync("EOSINOPHIL");
            Assert.True(await page.Locator("[data-testid=suspect-pair]").CountAsync() > 0);
            await Assertions.Expect(page.Locator("[data-testid=suspect-pair] img").First).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("[data-testid=member-thumb]").First).ToBeVisibleAsync();
            // Every thumbnail loaded (a broken one has no natural width).
            await page.WaitForFunctionAsync("() => [...document.querySelectorAll('[data-testid=suspect-pair] img, [data-testid=member-thumb] img')].every(i => i.complete && i.naturalWidth > 0)");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "split-page-random.png"), FullPage = true });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
