using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>A user's path with a zip that has only a TRAIN folder: the folders split is refused, carving is asked for and said.</summary>
[Trait("Category", "Browser")]
[Trait("Category", "RealData")]
public class SplitsBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_train_only_zip_gets_a_refused_folders_split_then_a_carved_one_the_training_page_offers_and_storage_lists()
    {
        var browser = fixture.RequireBrowser();
        using var dir = new TempDirectory();
        var zip = Path.Combine(dir.Path, "train-only.zip");
        var entries = new List<(string, byte[])>();
        for (int i = 0; i < 15; i++) entries.Add(($"TRAIN/EOSINOPHIL/e{i}.jpg", ImportFixtures.Jpeg(700 + i)));
        for (int i = 0; i < 15; i++) entries.Add(($"TRAIN/NEUTROPHIL/n{i}.jpg", ImportFixtures.Jpeg(800 + i)));
        ImportFixtures.Zip(zip, entries);

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        string Shot(string name) => Path.Combine(BrowserFixture.ScreenshotDirectory, name);
        await BrowserFixture.ScreenshotOnFailureAsync(page, "splits-flow", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "datasets"));
            await page.Locator("input[data-testid=dataset-name]").FillAsync("train-only");
            await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-panel] input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("[data-testid=import-panel] input[type=file]").SetInputFilesAsync(zip);
            await Assertions.Expect(page.Locator("[data-testid=import-result]").First).ToContainTextAsync("Imported 30 images", new() { Timeout = 60_000 });

            await page.Locator("[data-testid=dataset-link]", new() { HasTextString = "train-only" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("train-only");
            await page.Locator("[data-testid=split-strategy]").ClickAsync();
            await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "Own folders (TRAIN/VAL/TEST)" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=folders-note]")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("[data-testid=ratio-train]")).ToHaveCountAsync(0);

            await page.Locator("[data-testid=create-split]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=job-error]").First).ToContainTextAsync("no VAL or TEST folder", new() { Timeout = 60_000 });
            await Assertions.Expect(page.Locator("[data-testid=split-table]")).ToHaveCountAsync(0);
            await page.ScreenshotAsync(new() { Path = Shot("split-folders-refused.png"), FullPage = true });

            await page.Locator("input[data-testid=carve-missing]").CheckAsync(new() { Force = true });
            await Assertions.Expect(page.Locator("[data-testid=ratio-train]")).ToHaveCountAsync(1);
            await page.Locator("[data-testid=create-split]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=split-table]")).ToContainTextAsync("train-only-folders-carved-s42", new() { Timeout = 120_000 });
            await Assertions.Expect(page.Locator("[data-testid=split-ratios]").First).ToContainTextAsync("carved from TRAIN");
            await Assertions.Expect(page.Locator("[data-testid=split-empty-part]")).ToHaveCountAsync(0);
            await page.ScreenshotAsync(new() { Path = Shot("split-folders-carved.png"), FullPage = true });

            // A split an older portal made with an empty test part (the one the issue found): newest, yet not preselected.
            await AddSplitWithoutTestAsync(fixture.Portal.DataDirectory, "train-only", "old-folders-split");
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "training"));
            await Assertions.Expect(page.Locator("[data-testid=incomplete-split-warning]")).ToHaveCountAsync(0);
            await page.Locator("[data-testid=device-select]").ClickAsync();
            await Assertions.Expect(page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "cuda" })).ToHaveCountAsync(1);
            await page.ScreenshotAsync(new() { Path = Shot("training-devices.png"), FullPage = true });
            await page.Keyboard.PressAsync("Escape");

            await page.Locator("[data-testid=split-select]").ClickAsync();
            await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "old-folders-split" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=incomplete-split-warning]")).ToContainTextAsync("no test part");
            await Assertions.Expect(page.Locator("[data-testid=start-run]")).ToBeDisabledAsync();
            await page.ScreenshotAsync(new() { Path = Shot("training-incomplete-split.png"), FullPage = true });
            await page.Locator("input[data-testid=confirm-incomplete]").CheckAsync(new() { Force = true });
            await Assertions.Expect(page.Locator("[data-testid=start-run]")).ToBeEnabledAsync();

            // A staged upload a stopped portal left behind.
            ImportFixtures.Write(Path.Combine(fixture.Portal.DataDirectory, "uploads", "stale-upload-1"), "upload.zip", new byte[50_000]);
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "storage"));
            await Assertions.Expect(page.Locator("[data-testid=storage-datasets]")).ToContainTextAsync("train-only");
            await Assertions.Expect(page.Locator("[data-testid=storage-staging]")).ToContainTextAsync("stale-upload-1");
            await page.ScreenshotAsync(new() { Path = Shot("storage.png"), FullPage = true });

            await page.Locator("[data-testid=storage-delete-staging]").ClickAsync();
            await page.Locator(".mud-dialog button", new() { HasTextString = "Delete" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=storage-staging]")).Not.ToContainTextAsync("stale-upload-1");
            Assert.False(Directory.Exists(Path.Combine(fixture.Portal.DataDirectory, "uploads", "stale-upload-1")));

            await page.Locator("tr", new() { HasTextString = "train-only" }).Locator("[data-testid=storage-delete-dataset]").ClickAsync();
            await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("30 images and 2 split(s)");
            await page.Locator(".mud-dialog button", new() { HasTextString = "Delete" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=storage-datasets]")).Not.ToContainTextAsync("train-only");
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }

    [Fact]
    public async Task A_running_grouping_job_is_cancelled_from_its_card_and_says_what_was_kept()
    {
        var train = SharedData.RequireTrainSet();
        var browser = fixture.RequireBrowser();
        using var dir = new TempDirectory();
        var zip = Path.Combine(dir.Path, "kaggle-part.zip");
        // Enough real images that finding their source groups takes a while on two cores.
        ImportFixtures.Zip(zip, Directory.GetDirectories(train).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Take(150).Select(f => ($"{Path.GetFileName(d)}/{Path.GetFileName(f)}", File.ReadAllBytes(f)))));

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "job-cancel", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "datasets"));
            await page.Locator("input[data-testid=dataset-name]").FillAsync("to-cancel");
            await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-panel] input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await page.Locator("[data-testid=import-panel] input[type=file]").SetInputFilesAsync(zip);
            await Assertions.Expect(page.Locator("[data-testid=import-result]").First).ToContainTextAsync("Imported", new() { Timeout = 120_000 });

            await page.Locator("[data-testid=dataset-link]", new() { HasTextString = "to-cancel" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("to-cancel");
            await page.Locator("[data-testid=find-groups]").ClickAsync();
            var cancel = page.Locator("[data-testid=grouping-job] [data-testid=job-cancel]");
            await Assertions.Expect(cancel).ToBeVisibleAsync();
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "job-running.png"), FullPage = true });
            await cancel.ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=grouping-job] [data-testid=job-state]")).ToHaveTextAsync("Cancelled", new() { Timeout = 60_000 });
            await Assertions.Expect(page.Locator("[data-testid=job-cancelled]")).ToContainTextAsync("the source groups found before, if any, are unchanged");
            await Assertions.Expect(page.Locator("[data-testid=job-cancel]")).ToHaveCountAsync(0);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "job-cancelled.png"), FullPage = true });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }

    internal static async Task AddSplitWithoutTestAsync(string dataDirectory, string dataset, string name)
    {
        var options = new DbContextOptionsBuilder<WbcDbContext>().UseSqlite($"Data Source={Path.Combine(dataDirectory, "wbcportal.db")}").Options;
        await using var db = new WbcDbContext(options);
        int datasetId = await db.Datasets.Where(d => d.Name == dataset).Select(d => d.Id).SingleAsync();
        var parts = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, int>)(p == SplitParts.Test
            ? new Dictionary<string, int>()
            : new Dictionary<string, int> { ["EOSINOPHIL"] = 10, ["NEUTROPHIL"] = 10 }));
        var report = new SplitReport(SplitStrategy.Folders, "0.7,0.15,0.15", 42, parts, 0, SplitParts.All.ToDictionary(p => p, _ => 0), 0, 0, false, 0);
        db.Splits.Add(new Split
        {
            DatasetId = datasetId, Name = name, Strategy = SplitStrategy.Folders, Ratios = "0.7,0.15,0.15", CreatedAt = DateTimeOffset.UtcNow,
            ReportJson = JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)),
        });
        await db.SaveChangesAsync();
    }
}
