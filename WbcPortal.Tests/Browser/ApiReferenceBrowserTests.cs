using Microsoft.Playwright;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// The API reference in Chromium: the v1 contract only, everything from the portal itself (no request leaves its origin,
/// so it works offline), none of Scalar's cloud buttons, under the portal's Content-Security-Policy, and a link back.
/// </summary>
[Trait("Category", "Browser")]
public class ApiReferenceBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private const string CollectViolations = """
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`));
        """;

    /// <summary>What Scalar offers that calls its cloud (or opens client.scalar.com): none may show.</summary>
    private static readonly string[] CloudButtons = ["Ask AI", "Generate SDK", "Deploy", "Share", "Open API Client", "Test Request"];

    [Fact]
    public async Task The_reference_shows_the_v1_api_from_the_portal_alone_without_cloud_buttons_and_links_back()
    {
        fixture.RequireBrowser();
        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1366, Height = 900 } });
        await context.AddInitScriptAsync(CollectViolations);
        string origin = fixture.Portal.BaseAddress.GetLeftPart(UriPartial.Authority);
        var outside = new List<string>();
        context.Request += (_, r) =>
        {
            if (!r.Url.StartsWith(origin + "/", StringComparison.Ordinal) && !r.Url.StartsWith("data:", StringComparison.Ordinal) && !r.Url.StartsWith("blob:", StringComparison.Ordinal))
                outside.Add(r.Url);
        };
        var page = await context.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(page, "api-reference", async () =>
        {
            await page.GotoAsync(new Uri(fixture.Portal.BaseAddress, "api/reference").ToString());
            await Assertions.Expect(page.Locator("a[href='#tag/v1/POST/api/v1/predict']").First).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "api-reference.png") });

            // The public contract only: every operation it lists is under /api/v1.
            var operations = await page.EvaluateAsync<string[]>("() => [...new Set([...document.querySelectorAll('a[href*=\"#tag/\"]')].map(a => a.getAttribute('href')).filter(h => h.includes('/api/')))]");
            Assert.Contains("#tag/v1/GET/api/v1/models", operations);
            Assert.All(operations, href => Assert.Contains("/api/v1/", href, StringComparison.Ordinal));

            foreach (var name in CloudButtons)
            {
                Assert.Equal(0, await page.GetByRole(AriaRole.Button, new() { Name = name }).CountAsync());
                Assert.Equal(0, await page.GetByRole(AriaRole.Link, new() { Name = name }).CountAsync());
            }
            Assert.Equal(0, await page.Locator("a[href*='client.scalar.com']").CountAsync());

            // Scalar's script runs by the page's nonce. Its one refusal is Zod's probe for eval (try { Function('') }),
            // which it catches and does without.
            var violations = await page.EvaluateAsync<string[]>("() => window.__csp");
            Assert.All(violations, v => Assert.Equal($"script-src eval {origin}/api/reference/scalar.js", v));

            await page.Locator("[data-testid=reference-back]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("White-blood-cell classification");
        });
        Assert.True(outside.Count == 0, $"requests outside the portal: {string.Join(", ", outside)}");
        await context.CloseAsync();
    }
}
