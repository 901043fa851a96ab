using System.IO.Compression;
using Microsoft.Playwright;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// Issue 24 item 4 in a real browser: a tab closed during a large upload gives its staging space back, so the next upload
/// is accepted (before, the dead upload's reservation refused every import until a restart). Its own portal, with a
/// staging quota that holds the large upload or the next one, not both.
/// </summary>
[Trait("Category", "Browser")]
public sealed class StagingBrowserTests : IAsyncLifetime
{
    private const long MB = 1024 * 1024;
    private readonly TempDirectory files = new("wbc-staging-browser");
    private IPlaywright? playwright;
    private IBrowser? browser;
    private PortalProcess? portal;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(BrowserFixture.ChromiumPath)) return;
        Assertions.SetDefaultExpectTimeout(20_000);
        portal = await PortalProcess.StartAsync($"--Import:MaxUploadBytes={150 * MB}", $"--Import:MaxStagingBytes={150 * MB}");
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = BrowserFixture.ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(BrowserFixture.ScreenshotDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (browser is not null) await browser.DisposeAsync();
        playwright?.Dispose();
        if (portal is not null) await portal.DisposeAsync();
        files.Dispose();
    }

    [Fact]
    public async Task A_tab_closed_during_a_large_upload_gives_its_staging_space_back_and_the_next_upload_is_accepted()
    {
        if (browser is null || portal is null) Assert.Skip($"Browser tests need Debian's Chromium at {BrowserFixture.ChromiumPath}; the README's test command installs it.");
        // 140 MB: far more than the browser sends before the tab is closed. The next zip (21 MB of padding the import refuses
        // by its size, and two images) fits beside nothing but 10 MB: only if the first upload's reservation went.
        string big = Path.Combine(files.Path, "big.zip");
        await using (var stream = File.Create(big)) stream.SetLength(140 * MB);
        string next = Path.Combine(files.Path, "next.zip");
        using (var zip = ZipFile.Open(next, ZipArchiveMode.Create))
        {
            foreach (var (name, bytes) in new[] { ("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(1)), ("NEUTROPHIL/b.jpg", ImportFixtures.Jpeg(2)), ("EOSINOPHIL/padding.jpg", new byte[21 * MB]) })
            {
                using var entry = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                entry.Write(bytes);
            }
        }
        string uploads = Path.Combine(portal.DataDirectory, "uploads");

        var context = await BrowserFixture.SignedInContextAsync(browser, portal, new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var first = await context.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(first, "staging-closed-tab", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(first, new Uri(portal.BaseAddress, "datasets"));
            await first.Locator("input[data-testid=dataset-name]").FillAsync("closed-tab");
            await first.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-panel] input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await first.Locator("[data-testid=import-panel] input[type=file]").SetInputFilesAsync(big);
            await Assertions.Expect(first.Locator("[data-testid=upload-progress]")).ToBeVisibleAsync();
        });
        Assert.Single(Directory.GetDirectories(uploads));
        await first.CloseAsync();

        // The portal learns the tab went and releases the upload: its folder goes, and the log says which owner let go (the
        // tab's connection, its circuit, its page or its failed copy: whichever the portal saw first). Before leases the
        // upload waited for the browser stream's own time-out (a minute), or for ever when that error was not one the page
        // caught, and nothing said so. The log reaches the test through a pipe, after the folder has gone: both are awaited.
        const string released = "Released the staging space of the upload of big.zip (";
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Directory.GetFileSystemEntries(uploads).Length > 0 || !portal.Log.Contains(released, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the closed tab's upload was not released within a minute:\n{portal.Log}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        var second = await context.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(second, "staging-next-upload", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(second, new Uri(portal.BaseAddress, "datasets"));
            await second.Locator("input[data-testid=dataset-name]").FillAsync("next-upload");
            await second.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-panel] input[type=file]')?._blazorInputFileNextFileId !== undefined");
            await second.Locator("[data-testid=import-panel] input[type=file]").SetInputFilesAsync(next);
            await Assertions.Expect(second.Locator("[data-testid=import-result]").First).ToContainTextAsync("Imported 2 images", new() { Timeout = 120_000 });
            await Assertions.Expect(second.Locator("[data-testid=upload-error]")).ToHaveCountAsync(0);
            // The closed tab's upload never became an import.
            await Assertions.Expect(second.Locator("[data-testid=import-panel]")).Not.ToContainTextAsync("big.zip");
        });
        await context.CloseAsync();
    }
}
