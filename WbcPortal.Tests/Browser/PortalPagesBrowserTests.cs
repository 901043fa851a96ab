using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Components;
using Microsoft.Playwright;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// The portal's pages with content, in Chromium. Every routable page at a phone's width (375 px), a tablet's (768) and a
/// laptop's (1366): no page scrolls sideways (and on a laptop no table is cut off), the theme toggle stays on screen, and
/// axe-core finds no serious or critical accessibility violation (at 375 px and at 1366 px in both themes: a tablet's width
/// changes no name, role or colour the other widths do not cover). A page with a problem is photographed into
/// <c>screenshots/layout/</c>; with <c>WBC_LAYOUT_SCREENSHOTS=1</c> every page at every width is (full-page shots of the long
/// pages were a third of this test's minutes). The theme follows the browser until the user chooses one, and the server renders the
/// page in it; every control the Tab key reaches shows a focus ring; Explore and Review opened from the menu show
/// something at once.
/// </summary>
[Trait("Category", "Browser")]
public sealed class PortalPagesBrowserTests(PortalPagesFixture fixture) : IClassFixture<PortalPagesFixture>
{
    /// <summary>A page: its route template (as in its <c>@page</c>), the address visited, and what shows once its content is there.</summary>
    public sealed record PortalPage(string Name, string Route, string Address, string Ready, bool SignedIn = true);

    private IReadOnlyList<PortalPage> Pages =>
    [
        new("signin", "/account/signin", "account/signin", "[data-testid=signin-user]", SignedIn: false),
        new("home", "/", "", "[data-testid=system-status]"),
        new("datasets", "/datasets", "datasets", "[data-testid=dataset-link]"),
        new("dataset", "/datasets/{Id:int}", $"datasets/{fixture.DatasetId}", "[data-testid=thumb] img"),
        new("split", "/splits/{Id:int}", $"splits/{fixture.SplitId}", "[data-testid=page-title]"),
        new("explore", "/explore", $"explore?dataset={fixture.DatasetId}", "#explore-histograms .main-svg"),
        new("training", "/training", "training", "[data-testid=training-form]"),
        new("runs", "/runs", "runs", "[data-testid=run-table]"),
        new("run", "/runs/{Id:int}", $"runs/{fixture.RunId}", "[data-testid=reliability-diagram] .main-svg"),
        new("compare", "/runs/compare", $"runs/compare?ids={fixture.RunId},{fixture.FoldRunIds[0]}", "[data-testid=run-column]"),
        new("cross-validation", "/runs/cv/{Id:int}", $"runs/cv/{fixture.CrossValidationIds[0]}", "[data-testid=cv-fold-row]"),
        new("cross-validation-compare", "/runs/cv/compare/{A:int}/{B:int}", $"runs/cv/compare/{fixture.CrossValidationIds[0]}/{fixture.CrossValidationIds[1]}", "[data-testid=page-title]"),
        new("review", "/review", $"review?evaluation={fixture.TestEvaluationId}&filter=all", "[data-testid=review-tile]"),
        new("models", "/models", "models", "[data-testid=model-card]"),
        new("classify", "/classify", fixture.ClassifyAddress, "[data-testid=classify-row] img"),
        new("smears", "/smears", "smears", "[data-testid=smears-upload]"),
        new("storage", "/storage", "storage", "[data-testid=storage-runs]"),
        new("account", "/account", "account", "[data-testid=account-who]"),
        new("users", "/admin/users", "admin/users", "[data-testid=user-row]"),
        new("audit", "/audit", "audit", "[data-testid=audit-total]"),
        new("denied", "/account/denied", "account/denied", "h1"),
        new("not-found", "/not-found", "not-found", "h1"),
        new("error", "/Error", "Error", "h1"),
    ];

    /// <summary>The three widths in the light theme, and the laptop's in the dark theme (its own colours, its own contrast).</summary>
    public static TheoryData<int, bool> Widths => new() { { 375, false }, { 768, false }, { 1366, false }, { 1366, true } };

    /// <summary>
    /// axe-core rules this portal cannot satisfy in code it does not own, each with its reason (none so far: the list is
    /// here so an exclusion is one visible line, not a silent filter).
    /// </summary>
    private static readonly IReadOnlyDictionary<string, string> ExcludedSelectors = new Dictionary<string, string>
    {
    };

    private static readonly Lazy<string> Axe = new(() => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Browser", "Assets", "axe.min.js")));

    private const string Overflow = """
        () => {
            const w = window.innerWidth, sw = document.scrollingElement.scrollWidth, wide = [];
            const describe = el => el.tagName.toLowerCase() + (el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : el.id ? '#' + el.id : '')
                + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).slice(0, 3).join('.') : '');
            if (sw > w + 1) {
                for (const el of document.body.querySelectorAll('*')) {
                    const r = el.getBoundingClientRect(), p = el.parentElement?.getBoundingClientRect();
                    if (r.width > 0 && r.right > w + 1 && (!p || p.right <= w + 1)) wide.push(`${describe(el)} (${Math.round(r.left)}..${Math.round(r.right)} px)`);
                    if (wide.length >= 6) break;
                }
            }
            // Tables that scroll sideways inside the page (fine on a phone, a cut-off column on a laptop).
            const clipped = [...document.querySelectorAll('.wbc-scroll-region, .mud-table-container, .wbc-cm-scroll')]
                .filter(el => el.getClientRects().length > 0 && el.scrollWidth > el.clientWidth + 1 && !el.parentElement.closest('.wbc-scroll-region'))
                .map(el => `${describe(el.closest('[data-testid]') ?? el)} shows ${el.clientWidth} of ${el.scrollWidth} px`);
            return JSON.stringify({ scrollWidth: sw, innerWidth: w, wide, clipped });
        }
        """;

    private const string RunAxe = """
        async exclude => {
            const result = await axe.run(exclude.length ? { exclude } : document, { resultTypes: ['violations'] });
            return JSON.stringify(result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
                id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.html.slice(0, 140)),
            })));
        }
        """;

    private sealed record OverflowResult(int ScrollWidth, int InnerWidth, string[] Wide, string[] Clipped);

    /// <summary>From this width up a table is cut off when it scrolls sideways (below it, it may: it is a keyboard-scrollable region).</summary>
    private const int LaptopWidth = 1366;
    private const int TabletWidth = 768;
    private static bool EveryScreenshot => Environment.GetEnvironmentVariable("WBC_LAYOUT_SCREENSHOTS") == "1";
    private sealed record AxeViolation(string Id, string Impact, string Help, int Count, string[] Nodes);

    [Fact]
    public void Every_routable_page_is_visited()
    {
        var routes = typeof(Program).Assembly.GetTypes()
            .SelectMany(t => t.GetCustomAttributes<RouteAttribute>()).Select(r => r.Template).ToHashSet(StringComparer.Ordinal);
        var visited = Pages.Select(p => p.Route).ToHashSet(StringComparer.Ordinal);
        Assert.True(routes.SetEquals(visited), $"not visited: {string.Join(", ", routes.Except(visited))}; no such page: {string.Join(", ", visited.Except(routes))}");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public async Task Every_page_fits_the_width_and_has_no_serious_accessibility_violations(int width, bool dark)
    {
        var browser = fixture.Browser.RequireBrowser();
        var viewport = new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = 800 }, ColorScheme = dark ? ColorScheme.Dark : ColorScheme.Light };
        string at = dark ? $"{width} px, dark" : $"{width} px";
        var signedIn = await fixture.Browser.NewContextAsync(viewport);
        var anonymous = await browser.NewContextAsync(viewport);
        var failures = new List<string>();
        string folder = Directory.CreateDirectory(Path.Combine(BrowserFixture.ScreenshotDirectory, "layout")).FullName;
        foreach (var context in new[] { signedIn, anonymous }) await context.AddInitScriptAsync(Axe.Value);
        foreach (var p in Pages)
        {
            var page = await (p.SignedIn ? signedIn : anonymous).NewPageAsync();
            var csp = new List<string>();
            page.Console += (_, m) => { if (m.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase)) csp.Add(m.Text); };
            try
            {
                await page.GotoAsync(new Uri(fixture.Portal.BaseAddress, p.Address).ToString());
                if (p.SignedIn) await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=interactive]') !== null", null, new() { Timeout = 30_000 });
                await page.Locator(p.Ready).First.WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 60_000 });
                // Two frames: the layout after the last render.
                await page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");

                var overflow = JsonSerializer.Deserialize<OverflowResult>(await page.EvaluateAsync<string>(Overflow), JsonSerializerOptions.Web)!;
                if (overflow.ScrollWidth > overflow.InnerWidth + 1)
                    failures.Add($"{p.Name} at {at} scrolls sideways: {overflow.ScrollWidth} px wide; too wide: {string.Join("; ", overflow.Wide)}");
                if (width >= LaptopWidth && overflow.Clipped.Length > 0)
                    failures.Add($"{p.Name} at {at} cuts off a table: {string.Join("; ", overflow.Clipped)}");
                if (p.SignedIn && await page.Locator("[data-testid=theme-toggle]").BoundingBoxAsync() is { } toggle && toggle.X + toggle.Width > width)
                    failures.Add($"{p.Name} at {at}: the theme toggle is off screen (right edge at {toggle.X + toggle.Width:0} px)");

                if (width != TabletWidth)
                {
                    var exclude = ExcludedSelectors.Keys.Select(s => new[] { s }).ToArray();
                    var violations = JsonSerializer.Deserialize<AxeViolation[]>(await page.EvaluateAsync<string>(RunAxe, exclude), JsonSerializerOptions.Web)!;
                    foreach (var v in violations)
                        failures.Add($"{p.Name} at {at}: axe {v.Impact} {v.Id} ({v.Help}) on {v.Count} element(s): {string.Join(" | ", v.Nodes)}");
                }
                failures.AddRange(csp.Select(c => $"{p.Name} at {at}: {c}"));
            }
            catch (Exception ex) when (ex is PlaywrightException or TimeoutException)
            {
                failures.Add($"{p.Name} at {at} did not show its content ({p.Ready}): {ex.Message.Split('\n')[0]}");
            }
            if (EveryScreenshot || failures.Any(f => f.StartsWith($"{p.Name} at {at}", StringComparison.Ordinal)))
                await page.ScreenshotAsync(new() { Path = Path.Combine(folder, $"{width}{(dark ? "-dark" : "")}-{p.Name}.png"), FullPage = true });
            await page.CloseAsync();
        }
        await signedIn.CloseAsync();
        await anonymous.CloseAsync();
        Assert.True(failures.Count == 0, $"{failures.Count} problem(s):\n{string.Join("\n", failures)}");
    }

    [Fact]
    public async Task A_read_only_portal_keeps_its_buttons_on_a_phones_screen()
    {
        var browser = fixture.Browser.RequireBrowser();
        // Beside the portal that holds the data folder, as a lab browses while a run trains.
        await using var readOnly = await Support.PortalProcess.StartOnAsync(fixture.Portal.DataDirectory, "--read-only");
        var context = await BrowserFixture.SignedInContextAsync(browser, readOnly, new() { ViewportSize = new ViewportSize { Width = 375, Height = 800 } });
        var page = await context.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(page, "read-only-375", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(readOnly.BaseAddress, "datasets"));
            await Assertions.Expect(page.Locator("[data-testid=read-only]")).ToBeVisibleAsync();
            var toggle = await page.Locator("[data-testid=theme-toggle]").BoundingBoxAsync();
            Assert.True(toggle is not null && toggle.X + toggle.Width <= 375, $"the theme toggle ends at {toggle?.X + toggle?.Width} px");
            Assert.True(await page.EvaluateAsync<bool>("() => document.scrollingElement.scrollWidth <= innerWidth + 1"), "the page scrolls sideways");
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "read-only-375.png") });
        });
        await context.CloseAsync();
    }

    private const string IsDark = """
        () => {
            const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/[\d.]+/g).map(Number);
            return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255 < 0.35;
        }
        """;

    [Fact]
    public async Task The_theme_follows_the_browser_until_the_user_chooses_and_the_server_renders_the_page_in_it()
    {
        var browser = fixture.Browser.RequireBrowser();
        var url = new Uri(fixture.Portal.BaseAddress, "datasets");
        async Task<bool> DarkAsync(IPage page) => await page.EvaluateAsync<bool>(IsDark);

        // A browser set to dark: the first page after signing in is dark, already as the server sends it (no flash of light).
        var dark = await BrowserFixture.SignedInContextAsync(browser, fixture.Portal, new() { ColorScheme = ColorScheme.Dark });
        var page = await dark.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(page, "theme-dark-browser", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, url);
            Assert.True(await DarkAsync(page));
            Assert.True(await ServerRendersDarkAsync(browser, dark, url));
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "theme-dark-browser.png") });

            // Light, chosen: kept over the browser's preference, after a reload and in the server's rendering.
            await page.Locator("[data-testid=theme-toggle]").ClickAsync();
            await page.WaitForFunctionAsync($"() => !({IsDark})()");
            await BrowserFixture.GotoInteractiveAsync(page, url);
            Assert.False(await DarkAsync(page));
            Assert.False(await ServerRendersDarkAsync(browser, dark, url));
        });
        await dark.CloseAsync();

        // A light browser: light, and dark when the browser turns dark, until the user chooses.
        var light = await BrowserFixture.SignedInContextAsync(browser, fixture.Portal, new() { ColorScheme = ColorScheme.Light });
        page = await light.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(page, "theme-light-browser", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, url);
            Assert.False(await DarkAsync(page));
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Dark });
            await page.WaitForFunctionAsync(IsDark);
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light });
            await page.WaitForFunctionAsync($"() => !({IsDark})()");

            await page.Locator("[data-testid=theme-toggle]").ClickAsync();
            await page.WaitForFunctionAsync(IsDark);
            await Assertions.Expect(page.Locator("[data-testid=theme-toggle]")).ToHaveAttributeAsync("aria-pressed", "true");
            await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light }); // a change of the browser's no longer counts
            await BrowserFixture.GotoInteractiveAsync(page, url);
            Assert.True(await DarkAsync(page));
            Assert.True(await ServerRendersDarkAsync(browser, light, url));
        });
        await light.CloseAsync();
    }

    /// <summary>The page as the server renders it, scripts off: what shows before Blazor starts.</summary>
    private static async Task<bool> ServerRendersDarkAsync(IBrowser browser, IBrowserContext signedIn, Uri url)
    {
        var context = await browser.NewContextAsync(new() { JavaScriptEnabled = false, StorageState = await signedIn.StorageStateAsync() });
        var page = await context.NewPageAsync();
        await page.GotoAsync(url.ToString());
        await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveCountAsync(1);
        bool dark = await page.EvaluateAsync<bool>(IsDark);
        await context.CloseAsync();
        return dark;
    }

    /// <summary>Null when nothing has focus; empty when the focused control (or the control it sits in) shows a ring; else the control.</summary>
    private const string MissingRing = """
        () => {
            const el = document.activeElement;
            if (!el || el === document.body || el === document.documentElement) return null;
            // Focused by the page, not reached by Tab (tabindex -1: the heading a navigation focuses, late on a loaded machine).
            if (el.getAttribute('tabindex') === '-1') return null;
            if (!el.matches(':focus-visible')) return '';
            const ring = e => {
                const s = getComputedStyle(e);
                return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 && parseFloat(s.opacity) > 0 && !/rgba\(\d+, \d+, \d+, 0\)/.test(s.outlineColor);
            };
            for (let e = el, up = 0; e && up < 4; e = e.parentElement, up++) {
                if (ring(e) && (e === el || e.matches(':has(:focus-visible)'))) return '';
            }
            const text = (el.getAttribute('aria-label') || el.innerText || el.value || '').trim().slice(0, 40);
            return `${el.tagName.toLowerCase()}${el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : ''} "${text}"`;
        }
        """;

    [Fact]
    public async Task Every_control_the_Tab_key_reaches_shows_a_focus_ring()
    {
        fixture.Browser.RequireBrowser();
        var context = await fixture.Browser.NewContextAsync(new() { ViewportSize = new ViewportSize { Width = 1366, Height = 900 } });
        var page = await context.NewPageAsync();
        var missing = new List<string>();
        int reached = 0;
        foreach (var path in new[] { "runs", "storage", "training", $"datasets/{fixture.DatasetId}", $"review?evaluation={fixture.TestEvaluationId}", "account" })
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, path));
            // From the menu button on: the app bar, the menu, then the page.
            await page.Locator("[aria-label='Toggle navigation']").FocusAsync();
            for (int i = 0; i < 40; i++)
            {
                await page.Keyboard.PressAsync("Tab");
                if (await page.EvaluateAsync<string?>(MissingRing) is not { } control) continue;
                reached++;
                if (control.Length > 0 && !missing.Contains($"{path}: {control}")) missing.Add($"{path}: {control}");
            }
        }
        Assert.True(reached > 100, $"the Tab key reached {reached} controls");
        Assert.True(missing.Count == 0, $"no focus ring on:\n{string.Join("\n", missing)}");
        await context.CloseAsync();
    }

    [Fact]
    public async Task Explore_and_Review_opened_from_the_menu_show_the_newest_dataset_and_the_newest_plain_runs_test_part()
    {
        fixture.Browser.RequireBrowser();
        var context = await fixture.Browser.NewContextAsync(new() { ViewportSize = new ViewportSize { Width = 1366, Height = 900 } });
        var page = await context.NewPageAsync();
        await BrowserFixture.ScreenshotOnFailureAsync(page, "menu-defaults", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, fixture.Portal.BaseAddress);
            await page.Locator("[data-testid=nav-explore]").ClickAsync();
            await page.WaitForURLAsync("**/explore");
            // The newest dataset's samples: 6 images of each class (the older dataset has 2).
            await Assertions.Expect(page.Locator("[data-testid=sample-image]")).ToHaveCountAsync(12);
            await Assertions.Expect(page.Locator("[data-testid=dataset-picker]")).ToContainTextAsync(PortalPagesFixture.DatasetName);

            // Newer runs are cross-validation folds (a fold's test part is a few images): the plain run's test part opens.
            await page.Locator("[data-testid=nav-review]").ClickAsync();
            await page.WaitForURLAsync("**/review");
            await Assertions.Expect(page.Locator("[data-testid=review-summary]")).ToContainTextAsync($"{PortalPagesFixture.RunName} on split layout-folders / test");
        });
        await context.CloseAsync();
    }
}
