using Microsoft.Playwright;
using WbcPortal.Tests.Integration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>Debian's Chromium driven by Playwright (no browser download), against the real portal process.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly PortalFixture portal = new();
    private IPlaywright? playwright;

    public IBrowser? Browser { get; private set; }
    public PortalProcess Portal => portal.Portal;
    /// <inheritdoc cref="PortalFixture.ServerRoot"/>
    public string ServerRoot => portal.ServerRoot;
    public string DataDirectory => portal.DataDirectory;

    /// <inheritdoc cref="PortalFixture.WithPortalStoppedAsync"/>
    public Task WithPortalStoppedAsync(Func<string, Task> work) => portal.WithPortalStoppedAsync(work);

    public static string ScreenshotDirectory { get; } =
        Path.Combine(PortalProcess.RepositoryRoot(), "WbcPortal.Tests", "TestResults", "screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath)) return;
        // Playwright's 5 s default for expectations is short for a 2-core CI machine running the suite in parallel
        // (a training test and a browser test can share the cores): wait longer before calling a page wrong.
        Assertions.SetDefaultExpectTimeout(20_000);
        await portal.InitializeAsync();
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(ScreenshotDirectory);
    }

    /// <summary>Opens a page and waits for its circuit: a prerendered page shows before it is interactive.</summary>
    /// <summary>
    /// Whether an image shows a picture: scrolled into view (a lazy one loads only then), then loaded or failed, at most 15 s.
    /// Checking <c>complete</c> at once races the request.
    /// </summary>
    public static async Task<bool> ImageLoadsAsync(ILocator image)
    {
        await image.ScrollIntoViewIfNeededAsync();
        return await image.EvaluateAsync<bool>("""
            img => (img.complete && img.naturalWidth > 0) || new Promise(resolve => {
                img.addEventListener('load', () => resolve(img.naturalWidth > 0), { once: true });
                img.addEventListener('error', () => resolve(false), { once: true });
                setTimeout(() => resolve(img.complete && img.naturalWidth > 0), 15000);
            })
            """);
    }

    public static async Task GotoInteractiveAsync(IPage page, Uri url)
    {
        await page.GotoAsync(url.ToString());
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=interactive]') !== null", null, new PageWaitForFunctionOptions { Timeout = 30_000 });
    }

    /// <summary>Runs <paramref name="body"/>; on failure leaves FAILED-name.png beside the other screenshots, then rethrows.</summary>
    public static async Task ScreenshotOnFailureAsync(IPage page, string name, Func<Task> body)
    {
        try
        {
            await body();
        }
        catch
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, $"FAILED-{name}.png"), FullPage = true });
            throw;
        }
    }

    /// <summary>A browser context on the portal, as a signed-in user (every browser test opens its pages in one); skips without Chromium.</summary>
    public Task<IBrowserContext> NewContextAsync(BrowserNewContextOptions options) => SignedInContextAsync(RequireBrowser(), Portal, options);

    /// <summary>A browser context signed in to <paramref name="portal"/> through its sign-in page, as <paramref name="user"/>.</summary>
    public static async Task<IBrowserContext> SignedInContextAsync(IBrowser browser, PortalProcess portal, BrowserNewContextOptions options,
        string user = PortalProcess.AdminUser, string password = PortalProcess.AdminPassword)
    {
        var context = await browser.NewContextAsync(options);
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(portal.BaseAddress, "account/signin").ToString());
        await page.FillAsync("[data-testid=signin-user]", user);
        await page.FillAsync("[data-testid=signin-password]", password);
        await page.ClickAsync("[data-testid=signin-submit]");
        await page.WaitForURLAsync(url => !url.Contains("/account/signin", StringComparison.Ordinal), new PageWaitForURLOptions { Timeout = 30_000 });
        await page.CloseAsync();
        return context;
    }

    public IBrowser RequireBrowser()
    {
        if (Browser is null) Assert.Skip($"Browser tests need Debian's Chromium at {ChromiumPath}; the README's test command installs it.");
        return Browser;
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        playwright?.Dispose();
        await portal.DisposeAsync();
    }
}
