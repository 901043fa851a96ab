using Microsoft.Playwright;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>A user's path through Datasets: upload a zip in the browser, watch it import, browse, split, delete.</summary>
[Trait("Category", "Browser")]
public class DatasetBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task Upload_a_zip_browse_the_gallery_split_it_and_delete_it()
    {
        var browser = fixture.RequireBrowser();
        using var dir = new TempDirectory();
        var zip = Path.Combine(dir.Path, "cells.zip");
        var entries = new List<(string, byte[])>();
        for (int i = 0; i < 12; i++) entries.Add(($"EOSINOPHIL/e{i}.jpg", ImportFixtures.Jpeg(100 + i)));
        for (int i = 0; i < 12; i++) entries.Add(($"NEUTROPHIL/n{i}.jpg", ImportFixtures.Jpeg(200 + i)));
        entries.Add(("NEUTROPHIL/broken.jpg", [0xFF, 0xD8, 0xFF, 1, 2, 3]));
        ImportFixtures.Zip(zip, entries);

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "datasets-flow", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "datasets"));
            await page.Locator("input[data-testid=dataset-name]").FillAsync("browser-cells");
            // Blazor's InputFile marks its element once its change handler is attached; files set before that are lost.
            await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-panel] input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("[data-testid=import-panel] input[type=file]").SetInputFilesAsync(zip);
            await Assertions.Expect(page.Locator("[data-testid=import-result]").First).ToContainTextAsync("Imported 24 images", new() { Timeout = 60_000 });
            await Assertions.Expect(page.Locator("[data-testid=import-result]").First).ToContainTextAsync("1 not imported");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "datasets-imported.png"), FullPage = true });

            await page.Locator("[data-testid=dataset-link]", new() { HasTextString = "browser-cells" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("browser-cells");
            await Assertions.Expect(page.Locator("[data-testid=thumb]")).ToHaveCountAsync(12);
            Assert.True(await BrowserFixture.ImageLoadsAsync(page.Locator("[data-testid=thumb] img").First));

            await page.Locator("[data-testid=thumb]").Nth(2).ClickAsync();
            await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("EOSINOPHIL");
            await page.Locator(".mud-dialog .mud-button-close").ClickAsync();
            await Assertions.Expect(page.Locator(".mud-dialog")).ToHaveCountAsync(0);

            await page.Locator("[data-testid=create-split]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=split-table]")).ToContainTextAsync("browser-cells-grouped-s42", new() { Timeout = 120_000 });
            await Assertions.Expect(page.Locator("[data-testid=split-leaks]").First).ToHaveTextAsync("0");
            await Assertions.Expect(page.Locator("[data-testid=split-thinnest]").First).ToContainTextAsync(" in ");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "dataset-detail.png"), FullPage = true });

            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "datasets"));
            await page.Locator("tr", new() { HasTextString = "browser-cells" }).Locator("[data-testid=delete-dataset]").ClickAsync();
            await page.Locator(".mud-dialog button", new() { HasTextString = "Delete" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=dataset-link]", new() { HasTextString = "browser-cells" })).ToHaveCountAsync(0, new() { Timeout = 15_000 });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
