using Microsoft.Playwright;
using SixLabors.ImageSharp;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

[Trait("Category", "Browser")]
public class ExploreBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task An_imported_dataset_is_explored_with_charts_and_threshold_views_without_console_errors()
    {
        var browser = fixture.RequireBrowser();
        using (var folder = new TempDirectory("wbc-explore-browser"))
        {
            int seed = 0;
            foreach (var cls in new[] { "EOSINOPHIL", "NEUTROPHIL" })
            {
                var dir = Directory.CreateDirectory(Path.Combine(folder.Path, cls)).FullName;
                for (int i = 0; i < 4; i++)
                {
                    using var smear = TestImages.Smear(seed: ++seed);
                    await smear.SaveAsPngAsync(Path.Combine(dir, $"{i}.png"), Xunit.TestContext.Current.CancellationToken);
                }
            }
            await fixture.WithPortalStoppedAsync(async data =>
            {
                var (code, output) = await PortalProcess.RunToExitAsync("import", folder.Path, "--name", "browser", "--data-dir", data);
                Assert.True(code == 0, output);
            });
        }

        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, msg) => { if (msg.Type == "error") errors.Add(msg.Text); };
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(new Uri(fixture.Portal.BaseAddress, "explore?dataset=1").ToString());
        await page.WaitForFunctionAsync("() => window.Blazor !== undefined && document.querySelector('[data-testid=status-area] [data-testid=device]') !== null",
            null, new PageWaitForFunctionOptions { Timeout = 30_000 });

        foreach (var chart in new[] { "explore-histograms", "explore-thresholds", "explore-borders" })
        {
            await page.Locator($"#{chart} .main-svg").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 60_000 });
        }
        Assert.Equal(8, await page.Locator("[data-testid=sample-image]").CountAsync());

        // a level typed into the first field re-draws the masks and lands in the address
        var level = page.Locator("input[data-testid=level-0]");
        await level.FillAsync("170");
        await level.PressAsync("Enter");
        await page.WaitForURLAsync("**levels=170*");
        await Assertions.Expect(page.Locator("[data-testid=mask-image][src$='level=170']").First).ToBeVisibleAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "explore-dataset.png"), FullPage = true });

        // the state is in the address: a reload shows the same levels
        await page.ReloadAsync();
        await page.Locator("#explore-thresholds .main-svg").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 60_000 });
        Assert.Equal("170", await page.Locator("input[data-testid=level-0]").InputValueAsync());
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
