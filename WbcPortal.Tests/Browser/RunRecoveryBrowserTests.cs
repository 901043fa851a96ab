using Microsoft.Data.Sqlite;
using Microsoft.Playwright;
using WbcPortal.Tests.Integration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// No dead ends on the run page: a run whose portal was killed shows Interrupted with its reason after a restart and
/// resumes from its Resume button; a run that failed (cuda on this CPU machine) shows why. Each test owns its data
/// folder and portals, since it kills and restarts them.
/// </summary>
// Trains in child processes on the two cores: alone, so its time limits hold on a loaded machine.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "Browser")]
[Trait("Category", "Torch")]
public sealed class RunRecoveryBrowserTests : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-recovery");
    private readonly TempDirectory source = new("wbc-recovery-src");
    private IPlaywright? playwright;
    private IBrowser? browser;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(BrowserFixture.ChromiumPath)) return;
        Assertions.SetDefaultExpectTimeout(20_000);
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
        data.Dispose();
        source.Dispose();
    }

    private async Task<IPage> NewPageAsync(PortalProcess portal)
    {
        if (browser is null) Assert.Skip($"Browser tests need Debian's Chromium at {BrowserFixture.ChromiumPath}; the README's test command installs it.");
        var context = await BrowserFixture.SignedInContextAsync(browser, portal, new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        return await context.NewPageAsync();
    }

    [Fact]
    public async Task A_run_whose_portal_was_killed_is_interrupted_after_restart_and_resumes_from_its_page()
    {
        if (browser is null) Assert.Skip($"Browser tests need Debian's Chromium at {BrowserFixture.ChromiumPath}; the README's test command installs it.");
        await RunDeviceTests.PrepareSplitAsync(data.Path, source.Path, "kill-split", perClass: 16);
        int runId;
        IPage page;
        await using (var portal = await PortalProcess.StartOnAsync(data.Path))
        {
            page = await NewPageAsync(portal);
            await BrowserFixture.ScreenshotOnFailureAsync(page, "run-killed-start", async () =>
            {
                await BrowserFixture.GotoInteractiveAsync(page, new Uri(portal.BaseAddress, "training"));
                await Assertions.Expect(page.Locator("[data-testid=training-form]")).ToContainTextAsync("kill-split");
                await page.Locator("input[data-testid=input-height]").FillAsync("48");
                await page.Locator("input[data-testid=input-width]").FillAsync("64");
                await page.Locator("input[data-testid=round1-epochs]").FillAsync("2");
                await page.Locator("input[data-testid=round2-epochs]").FillAsync("3");
                await page.Locator("input[data-testid=round2-epochs]").PressAsync("Tab");
                await page.Locator("[data-testid=start-run]").ClickAsync();
                await page.WaitForURLAsync("**/runs/*");
            });
            runId = int.Parse(page.Url[(page.Url.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

            // Killed hard once an epoch is recorded: as a crash or a power cut would.
            var deadline = DateTime.UtcNow.AddSeconds(180);
            while (await ScalarAsync<long>("SELECT COUNT(*) FROM run_epochs") < 1)
            {
                Assert.False(portal.HasExited, "the portal ended before it could be killed:\n" + portal.Log);
                Assert.True(DateTime.UtcNow < deadline, "no epoch recorded within 180 s:\n" + portal.Log);
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
            await portal.KillAsync();
        }
        Assert.Equal("Running", await ScalarAsync<string>($"SELECT Status FROM runs WHERE Id = {runId}"));

        await using (var portal = await PortalProcess.StartOnAsync(data.Path))
        {
            page = await NewPageAsync(portal);
            await BrowserFixture.ScreenshotOnFailureAsync(page, "run-interrupted", async () =>
            {
                await BrowserFixture.GotoInteractiveAsync(page, new Uri(portal.BaseAddress, $"runs/{runId}"));
                await Assertions.Expect(page.Locator("[data-testid=run-status]").First).ToHaveTextAsync("Interrupted");
                await Assertions.Expect(page.Locator("[data-testid=run-error]")).ToContainTextAsync("stopped before it finished; resume it");
                await Assertions.Expect(page.Locator("[data-testid=stop-run]")).ToHaveCountAsync(0);
                await Assertions.Expect(page.Locator(".js-plotly-plot")).ToHaveCountAsync(2, new() { Timeout = 30_000 });
                await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "run-interrupted.png"), FullPage = true });

                await page.Locator("[data-testid=resume-run]").ClickAsync();
                await Assertions.Expect(page.Locator("[data-testid=run-status]").First).ToHaveTextAsync("Succeeded", new() { Timeout = 240_000 });
                await Assertions.Expect(page.Locator("[data-testid=resume-run]")).ToHaveCountAsync(0);
                await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "run-resumed.png"), FullPage = true });
            });
        }

        var epochs = new List<(long, long)>();
        await using (var c = Open())
        {
            await using var command = c.CreateCommand();
            command.CommandText = $"SELECT Round, Epoch FROM run_epochs WHERE RunId = {runId} ORDER BY Round, Epoch";
            await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            while (await reader.ReadAsync(TestContext.Current.CancellationToken)) epochs.Add((reader.GetInt64(0), reader.GetInt64(1)));
        }
        // Every epoch once, none lost: round 1's two, then round 2 from its first (the preset's early stopping may end it before 3).
        Assert.Equal([(1L, 1L), (1L, 2L)], epochs.Where(e => e.Item1 == 1));
        var round2 = epochs.Where(e => e.Item1 == 2).Select(e => e.Item2).ToList();
        Assert.NotEmpty(round2);
        Assert.Equal(Enumerable.Range(1, round2.Count).Select(i => (long)i), round2);
    }

    [Fact]
    public async Task A_run_that_failed_on_a_device_this_machine_lacks_shows_why_on_its_page()
    {
        RunDeviceTests.SkipWhereCudaWorks();
        if (browser is null) Assert.Skip($"Browser tests need Debian's Chromium at {BrowserFixture.ChromiumPath}; the README's test command installs it.");
        await RunDeviceTests.PrepareSplitAsync(data.Path, source.Path, "cuda-split");
        int runId = await RunDeviceTests.QueueCudaRunAsync(data.Path, "cuda-split", "cuda-run");
        var (code, _, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(90), "resume", "cuda-run", "--data-dir", data.Path);
        Assert.True(code != 0, stderr);

        await using var portal = await PortalProcess.StartOnAsync(data.Path);
        var page = await NewPageAsync(portal);
        await BrowserFixture.ScreenshotOnFailureAsync(page, "run-failed-cuda", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(portal.BaseAddress, $"runs/{runId}"));
            await Assertions.Expect(page.Locator("[data-testid=run-status]").First).ToHaveTextAsync("Failed");
            await Assertions.Expect(page.Locator("[data-testid=run-error]")).ToContainTextAsync("'cuda' is not available here");
            await Assertions.Expect(page.Locator("[data-testid=stop-run]")).ToHaveCountAsync(0);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "run-failed-cuda.png"), FullPage = true });
        });
    }

    private SqliteConnection Open()
    {
        var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        c.Open();
        return c;
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var c = Open();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}
