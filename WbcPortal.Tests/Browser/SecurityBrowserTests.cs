using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WbcPortal.Tests.Integration.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>The Content-Security-Policy leaves every page working (Blazor, MudBlazor, Plotly), and another origin's page cannot use the portal.</summary>
[Trait("Category", "Browser")]
public class SecurityBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private const string CollectViolations = """
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
        """;

    [Fact]
    public async Task Pages_and_plotly_charts_run_under_the_content_security_policy_without_violations()
    {
        fixture.RequireBrowser();
        int runId;
        await using (var services = new ServiceCollection().AddPortalCoreForTests(fixture.Portal.DataDirectory).BuildServiceProvider())
        {
            runId = await RunSeeds.AddRunAsync(services, "csp-run", RunComparisonTests.ConfigA, quality: 0.7);
        }
        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        await context.AddInitScriptAsync(CollectViolations);
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type is "error" or "warning" && (m.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase) || m.Text.Contains("Permissions-Policy", StringComparison.Ordinal))) errors.Add(m.Text); };
        page.PageError += (_, e) => errors.Add(e);
        await BrowserFixture.ScreenshotOnFailureAsync(page, "csp", async () =>
        {
            foreach (var path in new[] { "", "datasets", "explore", "training", "runs", "review", "models", "classify", "smears", "storage", $"runs/{runId}" })
            {
                await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, path));
                if (path == $"runs/{runId}")
                {
                    // Plotly draws its charts (and injects its styles) under the policy.
                    await Assertions.Expect(page.Locator(".js-plotly-plot").First).ToBeVisibleAsync();
                    await Assertions.Expect(page.Locator(".js-plotly-plot .main-svg").First).ToBeVisibleAsync();
                }
                var violations = await page.EvaluateAsync<string[]>("() => window.__csp");
                Assert.True(violations.Length == 0, $"/{path}: {string.Join("; ", violations)}");
            }
            // The theme toggle (MudBlazor's inline theme styles) still works.
            await page.Locator("[data-testid=theme-toggle]").ClickAsync();
            await page.WaitForFunctionAsync("() => getComputedStyle(document.body).backgroundColor !== 'rgb(255, 255, 255)'");
            Assert.Empty(await page.EvaluateAsync<string[]>("() => window.__csp"));
        });
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        await context.CloseAsync();
    }

    [Fact]
    public async Task A_page_on_another_origin_cannot_post_to_the_api_or_read_it()
    {
        fixture.RequireBrowser();
        var context = await fixture.NewContextAsync(new BrowserNewContextOptions());
        var page = await context.NewPageAsync();
        // An attacker's page on another origin, without the portal's own policy (served by the browser's router).
        var portal = fixture.Portal.BaseAddress;
        await page.RouteAsync("http://attacker.localhost/**", r => r.FulfillAsync(new() { Body = "<html><body>elsewhere</body></html>", ContentType = "text/html" }));
        await page.GotoAsync("http://attacker.localhost/");
        string target = new Uri(portal, "api/v1/predict").ToString();
        var statuses = new List<int>();
        var failures = new List<string>();
        page.Response += (_, r) => { if (r.Url == target) lock (statuses) statuses.Add(r.Status); };
        page.RequestFailed += (_, r) => { if (r.Url == target) lock (failures) failures.Add(r.Failure ?? "failed"); };
        string sent = await page.EvaluateAsync<string>($$"""
            () => { const f = new FormData(); f.append('image', new Blob([new Uint8Array([255, 216, 255])]), 'a.jpg');
                    return fetch('{{target}}', { method: 'POST', mode: 'no-cors', body: f }).then(() => 'sent', () => 'blocked'); }
            """);
        // The portal answers 403 (and its Cross-Origin-Resource-Policy makes the browser drop even the opaque answer).
        await page.WaitForTimeoutAsync(500);
        Assert.True(statuses.Count + failures.Count > 0, "the browser sent the request");
        Assert.All(statuses, s => Assert.Equal(403, s));
        Assert.Equal("blocked", sent);

        string read = await page.EvaluateAsync<string>($$"""
            () => fetch('{{new Uri(portal, "api/v1/models")}}').then(r => 'read ' + r.status, e => 'blocked')
            """);
        Assert.Equal("blocked", read);
        await context.CloseAsync();
    }
}
