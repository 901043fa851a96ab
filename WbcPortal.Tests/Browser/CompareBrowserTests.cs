using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WbcPortal.Tests.Integration.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>Tick two runs on the runs list, compare them, and find the comparison again at its address.</summary>
[Trait("Category", "Browser")]
public class CompareBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task Two_runs_ticked_on_the_runs_list_open_side_by_side()
    {
        var browser = fixture.RequireBrowser();
        await using (var services = new ServiceCollection().AddPortalCoreForTests(fixture.Portal.DataDirectory).BuildServiceProvider())
        {
            await RunSeeds.AddRunAsync(services, "baseline-run", RunComparisonTests.ConfigA, quality: 0.7, margin: 2, storePredictions: true);
            await RunSeeds.AddRunAsync(services, "cropped-run", RunComparisonTests.ConfigB, quality: 0.8, margin: 1.4, seconds: 300, storePredictions: true);
        }

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "compare-runs", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "runs"));
            var compare = page.Locator("[data-testid=compare-selected]");
            await Assertions.Expect(page.Locator("[data-testid=run-table] tbody tr")).ToHaveCountAsync(2);
            await Assertions.Expect(compare).ToBeDisabledAsync();
            var checks = page.Locator("input[data-testid=compare-check]");
            await checks.Nth(0).CheckAsync(new() { Force = true });
            await Assertions.Expect(compare).ToBeDisabledAsync();
            await checks.Nth(1).CheckAsync(new() { Force = true });
            await Assertions.Expect(page.Locator("[data-testid=selected-count]")).ToHaveTextAsync("2 selected");
            await Assertions.Expect(compare).ToBeEnabledAsync();
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "runs-two-selected.png"), FullPage = true });

            await compare.ClickAsync();
            await page.WaitForFunctionAsync("() => location.pathname === '/runs/compare' && location.search.startsWith('?ids=')");
            await Assertions.Expect(page.Locator("[data-testid=run-column]")).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=run-column]").First).ToContainTextAsync("baseline-run (baseline)");
            await Assertions.Expect(page.Locator("[data-testid=figure-row][data-key='model.accuracy'] .wbc-better")).ToHaveTextAsync("+10.0 pt");
            await Assertions.Expect(page.Locator("[data-testid=figure-row][data-key='model.accuracy'] [data-testid=verdict]").Last).ToHaveTextAsync("gain beyond noise");
            await Assertions.Expect(page.Locator("[data-testid=figure-row][data-key='round2.test.accuracy'] [data-testid=verdict]").Last).ToHaveTextAsync("no noise estimate");
            await Assertions.Expect(page.Locator(".js-plotly-plot")).ToHaveCountAsync(2, new() { Timeout = 30_000 });
            await Assertions.Expect(page.Locator("[data-testid=config-row]")).ToHaveCountAsync(6);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "compare-runs.png"), FullPage = true });

            // the address is the comparison: a reload shows it again, with the all-keys switch kept
            await page.Locator("input[data-testid=show-all-keys]").CheckAsync(new() { Force = true });
            await page.WaitForFunctionAsync("() => location.search.includes('all=true')");
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(page.Url));
            await Assertions.Expect(page.Locator("[data-testid=run-column]")).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=config-row][data-differs=false]").First).ToBeVisibleAsync();
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
