using Microsoft.Playwright;
using WbcPortal.Cli;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>Cross-validate the form's configuration from the Training page and watch its folds finish on the cross-validation page.</summary>
[Trait("Category", "Browser")]
public class CrossValidationBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task A_cross_validation_started_from_the_form_runs_its_folds_to_the_end_on_its_page()
    {
        var browser = fixture.RequireBrowser();
        using var source = new TempDirectory();
        ImportFixtures.ClassFolders(source.Path, ["EOSINOPHIL", "NEUTROPHIL"], 12, seed: 7);
        var quiet = new StringWriter();
        await fixture.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "cv-cells", "--data-dir", data], quiet, quiet));
            Assert.Equal(0, await CliApp.RunAsync(["split", "cv-cells", "--strategy", "grouped", "--ratios", "0.6,0.2,0.2", "--name", "cv-split", "--data-dir", data], quiet, quiet));
        });

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "cross-validation-flow", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "training"));
            await Assertions.Expect(page.Locator("[data-testid=training-form]")).ToContainTextAsync("cv-split");
            await page.Locator("input[data-testid=input-height]").FillAsync("48");
            await page.Locator("input[data-testid=input-width]").FillAsync("64");
            await page.Locator("input[data-testid=round1-epochs]").FillAsync("2");
            await page.Locator("input[data-testid=round2-epochs]").FillAsync("0");
            await page.Locator("input[data-testid=cv-folds]").FillAsync("3");
            await page.Locator("input[data-testid=cv-folds]").PressAsync("Tab");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "training-cross-validate.png"), FullPage = true });
            await page.Locator("[data-testid=start-cv]").ClickAsync();

            await page.WaitForURLAsync("**/runs/cv/*", new() { Timeout = 120_000 }); // creating K splits and runs: slow on a loaded 2-core machine
            await Assertions.Expect(page.Locator("[data-testid=cv-fold-row]")).ToHaveCountAsync(3);
            await Assertions.Expect(page.Locator("[data-testid=run-status]").First).ToHaveTextAsync("Succeeded", new() { Timeout = 300_000 });
            await Assertions.Expect(page.Locator("[data-testid=cv-progress-text]")).ToContainTextAsync("3 of 3 folds finished");
            await Assertions.Expect(page.Locator("[data-testid=cv-mean-accuracy]")).ToContainTextAsync("±");
            await Assertions.Expect(page.Locator("[data-testid=cv-chart] .js-plotly-plot")).ToHaveCountAsync(1);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "cross-validation.png"), FullPage = true });

            await page.Locator("[data-testid=compare-folds]").ClickAsync();
            await page.WaitForURLAsync("**/compare**");
            await Assertions.Expect(page.Locator("[data-testid=baseline-chip]")).ToContainTextAsync("fold 1/3 of cv-split-cv3-s42");
            await Assertions.Expect(page.Locator("[data-testid=run-chip]")).ToHaveCountAsync(2);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "cross-validation-compare.png"), FullPage = true });

            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "runs"));
            await Assertions.Expect(page.Locator("[data-testid=cv-table]")).ToContainTextAsync("cv-split-cv3-s42");
            await Assertions.Expect(page.Locator("[data-testid=run-fold-of]")).ToHaveCountAsync(3);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "runs-with-cross-validation.png"), FullPage = true });
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
