using Microsoft.Playwright;
using WbcPortal.Components.Layout;

namespace WbcPortal.Tests.Browser;

[Trait("Category", "Browser")]
public class ShellBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private async Task<(IPage Page, List<string> Errors)> OpenAsync(string path = "")
    {
        var browser = fixture.RequireBrowser();
        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, msg) => { if (msg.Type == "error") errors.Add(msg.Text); };
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(new Uri(fixture.Portal.BaseAddress, path).ToString());
        await WaitForCircuitAsync(page);
        return (page, errors);
    }

    /// <summary>A prerendered page shows before its circuit is live; interactivity starts once Blazor has connected.</summary>
    private static async Task WaitForCircuitAsync(IPage page)
    {
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=interactive]') !== null",
            null, new PageWaitForFunctionOptions { Timeout = 30_000 });
    }

    [Fact]
    public async Task The_shell_loads_and_every_navigation_link_reaches_its_page_without_console_errors()
    {
        var (page, errors) = await OpenAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "home.png"), FullPage = true });
        Assert.Equal("White-blood-cell classification", (await page.Locator("[data-testid=page-title]").TextContentAsync())?.Trim());

        foreach (var area in PortalAreas.All)
        {
            await page.Locator($"[data-testid=nav-{area.Href}]").ClickAsync();
            await page.WaitForURLAsync($"**/{area.Href}");
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync(area.Title);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{area.Href}.png") });
        }
        Assert.Empty(errors);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_theme_toggle_switches_to_dark_and_back()
    {
        var (page, errors) = await OpenAsync("datasets");
        string Background() => page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor").GetAwaiter().GetResult();
        string light = Background();
        await page.Locator("[data-testid=theme-toggle]").ClickAsync();
        await page.WaitForFunctionAsync($"() => getComputedStyle(document.body).backgroundColor !== '{light}'");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "datasets-dark.png") });
        await page.Locator("[data-testid=theme-toggle]").ClickAsync();
        await page.WaitForFunctionAsync($"() => getComputedStyle(document.body).backgroundColor === '{light}'");
        Assert.Empty(errors);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_status_area_shows_the_compute_device()
    {
        var (page, _) = await OpenAsync();
        var device = (await page.Locator("[data-testid=device]").TextContentAsync())?.Trim();
        Assert.Contains(device, new[] { "CPU", "CUDA" });
        await page.Context.CloseAsync();
    }
}
