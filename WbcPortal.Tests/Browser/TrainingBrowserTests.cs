using Microsoft.Playwright;
using WbcPortal.Cli;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>Configure a run in the form, watch it on its page until it has finished, and find it in the run list.</summary>
[Trait("Category", "Browser")]
public class TrainingBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_run_started_from_the_form_trains_to_the_end_on_its_live_page()
    {
        var browser = fixture.RequireBrowser();
        using var source = new TempDirectory();
        ImportFixtures.ClassFolders(source.Path, ["EOSINOPHIL", "NEUTROPHIL"], 10, seed: 7);
        var quiet = new StringWriter();
        await fixture.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "form-cells", "--data-dir", data], quiet, quiet));
            Assert.Equal(0, await CliApp.RunAsync(["split", "form-cells", "--strategy", "grouped", "--ratios", "0.5,0.25,0.25", "--name", "form-split", "--data-dir", data], quiet, quiet));
        });

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "training-flow", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "training"));
            await Assertions.Expect(page.Locator("[data-testid=training-form]")).ToContainTextAsync("form-split");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "training-form.png"), FullPage = true });
            await page.Locator("input[data-testid=input-height]").FillAsync("48");
            await page.Locator("input[data-testid=input-width]").FillAsync("64");
            await page.Locator("input[data-testid=round1-epochs]").FillAsync("1");
            await page.Locator("input[data-testid=round2-epochs]").FillAsync("1");
            await page.Locator("input[data-testid=round2-epochs]").PressAsync("Tab");
            await page.Locator("[data-testid=start-run]").ClickAsync();

            await page.WaitForURLAsync("**/runs/*");
            await Assertions.Expect(page.Locator("[data-testid=run-status]").First).ToHaveTextAsync("Succeeded", new() { Timeout = 180_000 });
            // untrained, round 1, round 2, and the exported model; the model report adds its reliability diagram and its
            // coverage-accuracy chart to the two curves (the charts draw one after another, so wait for all four)
            await Assertions.Expect(page.Locator("[data-testid=round-table] tbody tr")).ToHaveCountAsync(4);
            await Assertions.Expect(page.Locator("[data-testid=coverage-chart] .js-plotly-plot")).ToHaveCountAsync(1);
            await Assertions.Expect(page.Locator(".js-plotly-plot")).ToHaveCountAsync(4);
            await Assertions.Expect(page.Locator("[data-testid=active-model]")).ToContainTextAsync("Model: form-split-");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "run-finished.png"), FullPage = true });

            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "runs"));
            await Assertions.Expect(page.Locator("[data-testid=run-table]")).ToContainTextAsync("form-split");
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
