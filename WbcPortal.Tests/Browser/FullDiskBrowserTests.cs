using Microsoft.Playwright;
using WbcPortal.Tests.Integration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// A full disk as a user meets it in the browser (issue 24, item 4 D): the red banner on the sign-in page and after
/// signing in, and a deletion on the Storage page refused with the reason. Screenshots: disk-full-*.png beside the others.
/// </summary>
[Trait("Category", "Browser")]
public sealed class FullDiskBrowserTests : IDisposable
{
    private static readonly BrowserNewContextOptions Wide = new() { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } };

    private readonly TempDirectory source = new("wbc-full-browser-src");

    public void Dispose() => source.Dispose();

    private static string Shot(string name) => Path.Combine(BrowserFixture.ScreenshotDirectory, name);

    [Fact]
    public async Task The_banner_shows_before_and_after_sign_in_and_a_deletion_is_refused_with_the_reason()
    {
        if (!File.Exists(BrowserFixture.ChromiumPath)) Assert.Skip($"Browser tests need Debian's Chromium at {BrowserFixture.ChromiumPath}.");
        await using var volume = await SmallVolume.MountAsync("24m");
        string folder = Path.Combine(volume.Path, "data");
        ImportFixtures.ClassFolders(source.Path, ["EOSINOPHIL", "NEUTROPHIL"], 20, seed: 4);
        var import = await FullDiskTests.RunAsync(new Dictionary<string, string> { ["Storage__ReserveMegabytes"] = "4", ["Storage__MinFreeMegabytes"] = "4" },
            "import", source.Path, "--name", "cells", "--data-dir", folder);
        Assert.True(import.Code == 0, import.Stderr);
        await PortalProcess.CreateTokenAsync(folder, PortalProcess.AdminUser, WbcPortal.Services.Accounts.PortalRole.Admin);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        volume.Fill();

        await using var portal = await PortalProcess.StartOnAsync(folder, "--Storage:ReserveMegabytes", "4", "--Storage:MinFreeMegabytes", "4");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = BrowserFixture.ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(BrowserFixture.ScreenshotDirectory);
        var context = await browser.NewContextAsync(Wide);
        var page = await context.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(page, "disk-full", async () =>
        {
            await page.GotoAsync(new Uri(portal.BaseAddress, "account/signin").ToString());
            var banner = page.Locator("[data-testid=disk-full-banner]");
            await Assertions.Expect(banner).ToContainTextAsync("The data folder's disk is full (");
            await Assertions.Expect(banner).ToContainTextAsync("the portal started read-only. Free space (for example WbcPortal storage --delete-dataset NAME) and restart.");
            await page.ScreenshotAsync(new() { Path = Shot("disk-full-signin.png") });

            // Signing in works on a read-only portal (it reads the users; the audit says in the log what it could not record).
            await page.FillAsync("[data-testid=signin-user]", PortalProcess.AdminUser);
            await page.FillAsync("[data-testid=signin-password]", PortalProcess.AdminPassword);
            await page.ClickAsync("[data-testid=signin-submit]");
            await page.WaitForURLAsync(url => !url.Contains("/account/signin", StringComparison.Ordinal), new PageWaitForURLOptions { Timeout = 30_000 });

            await BrowserFixture.GotoInteractiveAsync(page, new Uri(portal.BaseAddress, "datasets"));
            await Assertions.Expect(banner).ToContainTextAsync("The data folder's disk is full (");
            await Assertions.Expect(page.Locator("[data-testid=read-only-notice]").First).ToContainTextAsync("The data folder's disk is full (");
            // Even an Admin is not offered a deletion the read-only portal would refuse.
            await Assertions.Expect(page.Locator("[data-testid=delete-dataset]")).ToHaveCountAsync(0);
            await page.ScreenshotAsync(new() { Path = Shot("disk-full-datasets.png") });

            // A deletion through the page is refused with the reason (the way out is the storage verb on the server).
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(portal.BaseAddress, "storage"));
            await Assertions.Expect(banner).ToBeVisibleAsync();
            await page.Locator("[data-testid=storage-delete-dataset]").First.ClickAsync();
            await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=storage-error]")).ToContainTextAsync("The data folder's disk is full (");
            await page.ScreenshotAsync(new() { Path = Shot("disk-full-storage-refused.png"), FullPage = true });
        });
        Assert.DoesNotContain("   at ", portal.Log);
        Assert.Equal(80, FullDiskTests.StoredFiles(folder).Length); // 40 images and their thumbnails: nothing deleted
    }
}
