using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Tests.Integration.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>A run on a random (leaky) split beside one on a leak-free split: every page says which is which, and nothing leaky is painted as a gain.</summary>
[Trait("Category", "Browser")]
public class LeakyCompareBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_leaky_runs_better_figures_are_labelled_and_never_coloured_as_a_gain()
    {
        var browser = fixture.RequireBrowser();
        int grouped, random;
        await using (var services = new ServiceCollection().AddPortalCoreForTests(fixture.Portal.DataDirectory).BuildServiceProvider())
        {
            grouped = await RunSeeds.AddRunAsync(services, "grouped-run", RunComparisonTests.ConfigA, quality: 0.7, margin: 2);
            random = await RunSeeds.AddRunAsync(services, "random-split-run", RunComparisonTests.ConfigB, quality: 0.95, margin: 1.4, split: "cells-random-s1", strategy: SplitStrategy.Random);
        }

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "compare-leaky", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "runs"));
            var chips = page.Locator("[data-testid=run-table] [data-testid=split-honesty]");
            await Assertions.Expect(chips).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-testid=run-table] [data-testid=split-honesty][data-status=LeakyByDesign]")).ToHaveTextAsync("leaky by design");
            await Assertions.Expect(page.Locator("[data-testid=run-table] [data-testid=split-honesty][data-status=LeakFree]")).ToHaveTextAsync("leak-free");
            await Assertions.Expect(page.Locator("[data-testid=run-table] [data-testid=run-originals]")).ToHaveTextAsync("8 / 8 / 8 originals");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "runs-list-honesty.png"), FullPage = true });

            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/{random}"));
            await Assertions.Expect(page.Locator("[data-testid=run-honesty-warning]")).ToContainTextAsync("leaky by design");

            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/compare?ids={grouped},{random}"));
            await Assertions.Expect(page.Locator("[data-testid=originals-row] td").Nth(1)).ToHaveTextAsync("train 8 · val 8 · test 8 originals");
            await Assertions.Expect(page.Locator("[data-testid=untrusted-runs]")).ToContainTextAsync("random-split-run (leaky by design)");
            var accuracy = page.Locator("[data-testid=figure-row][data-key='model.accuracy'] [data-testid=delta]");
            await Assertions.Expect(accuracy).ToHaveTextAsync("+25.0 pt ⚠");
            await Assertions.Expect(accuracy).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wbc-same"));
            // only the run's own facts (time, speed) may still be judged; no held-out figure is green or red
            Assert.Equal(0, await page.Locator("[data-testid=figure-row]:not([data-key=seconds]):not([data-key=imagesPerSecond]) :is(.wbc-better, .wbc-worse)").CountAsync());
            await Assertions.Expect(page.Locator(".js-plotly-plot")).ToHaveCountAsync(2, new() { Timeout = 30_000 });
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "compare-leaky-run.png"), FullPage = true });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
