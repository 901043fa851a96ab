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

    public static string ScreenshotDirectory { get; } =
        Path.Combine(PortalProcess.RepositoryRoot(), "WbcPortal.Tests", "TestResults", "screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath)) return;
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
