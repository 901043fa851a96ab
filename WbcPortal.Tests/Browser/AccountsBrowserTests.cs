using Microsoft.Playwright;
using WbcPortal.Services.Accounts;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// Sign-in as a user meets it: the sign-in page and its refusals, each role seeing what it may do (a Viewer cannot import,
/// a Reviewer cannot start a run, only an Admin opens the users and audit pages), an API token made and shown once, a
/// user added by an Admin, and the audit that recorded it all.
/// </summary>
[Trait("Category", "Browser")]
public class AccountsBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private static readonly BrowserNewContextOptions Wide = new() { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } };

    private string Url(string path) => new Uri(fixture.Portal.BaseAddress, path).ToString();

    private static string Shot(string name) => Path.Combine(BrowserFixture.ScreenshotDirectory, name);

    [Fact]
    public async Task Signing_in_is_required_and_wrong_passwords_are_refused_and_recorded()
    {
        var browser = fixture.RequireBrowser();
        var context = await browser.NewContextAsync(Wide);
        var page = await context.NewPageAsync();
        await page.GotoAsync(Url("datasets"));
        await Assertions.Expect(page.Locator("[data-testid=signin]")).ToBeVisibleAsync();
        Assert.Contains("returnUrl", page.Url, StringComparison.OrdinalIgnoreCase);
        await page.ScreenshotAsync(new() { Path = Shot("signin.png") });

        await page.FillAsync("[data-testid=signin-user]", PortalProcess.AdminUser);
        await page.FillAsync("[data-testid=signin-password]", "not-the-password");
        await page.ClickAsync("[data-testid=signin-submit]");
        await Assertions.Expect(page.Locator("[data-testid=signin-error]")).ToContainTextAsync("Wrong user name or password");

        await page.FillAsync("[data-testid=signin-user]", PortalProcess.AdminUser);
        await page.FillAsync("[data-testid=signin-password]", PortalProcess.AdminPassword);
        await page.ClickAsync("[data-testid=signin-submit]");
        await page.WaitForURLAsync("**/datasets");
        await BrowserFixture.GotoInteractiveAsync(page, new Uri(Url("audit")));
        await Assertions.Expect(page.Locator("[data-testid=audit-list]")).ToContainTextAsync("SignInFailed");
        await Assertions.Expect(page.Locator("[data-testid=audit-list]")).ToContainTextAsync("SignIn");

        await page.ClickAsync("[data-testid=signout]");
        await Assertions.Expect(page.Locator("[data-testid=signin]")).ToBeVisibleAsync();
        await page.GotoAsync(Url("audit"));
        await Assertions.Expect(page.Locator("[data-testid=signin]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Each_role_sees_what_it_may_do()
    {
        fixture.RequireBrowser();
        await fixture.Portal.CreateTokenAsync("vic", PortalRole.Viewer);
        await fixture.Portal.CreateTokenAsync("rey", PortalRole.Reviewer);

        // Viewer: reads the datasets page, is told importing needs an Admin.
        var viewer = await (await BrowserFixture.SignedInContextAsync(fixture.RequireBrowser(), fixture.Portal, Wide, "vic", PortalProcess.AdminPassword)).NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(viewer, new Uri(Url("datasets")));
        await Assertions.Expect(viewer.Locator("[data-testid=role-notice]")).ToContainTextAsync("Admin");
        await Assertions.Expect(viewer.Locator("[data-testid=signed-in-as]")).ToContainTextAsync("vic");
        await viewer.ScreenshotAsync(new() { Path = Shot("role-viewer-datasets.png") });
        await Assertions.Expect(viewer.Locator("[data-testid=nav-audit]")).ToHaveCountAsync(0);

        // Reviewer: cannot start a run, cannot open the users page.
        var reviewer = await (await BrowserFixture.SignedInContextAsync(fixture.RequireBrowser(), fixture.Portal, Wide, "rey", PortalProcess.AdminPassword)).NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(reviewer, new Uri(Url("training")));
        await Assertions.Expect(reviewer.Locator("[data-testid=role-notice]")).ToContainTextAsync("Starting a run needs the Admin role");
        await reviewer.GotoAsync(Url("admin/users"));
        await Assertions.Expect(reviewer.Locator("[data-testid=page-not-allowed]")).ToBeVisibleAsync();

        // Admin: adds a user with a one-time password, makes a token shown once; the audit has both.
        var admin = await (await fixture.NewContextAsync(Wide)).NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(admin, new Uri(Url("admin/users")));
        await admin.Locator("input[data-testid=user-new-name], [data-testid=user-new-name] input").FillAsync("nadia");
        await admin.ClickAsync("[data-testid=user-add]");
        await Assertions.Expect(admin.Locator("[data-testid=user-one-time-password]")).ToContainTextAsync("nadia");
        await Assertions.Expect(admin.Locator("[data-testid=user-row][data-user=nadia]")).ToBeVisibleAsync();
        await admin.ScreenshotAsync(new() { Path = Shot("users.png"), FullPage = true });

        await BrowserFixture.GotoInteractiveAsync(admin, new Uri(Url("account")));
        await admin.Locator("input[data-testid=token-name], [data-testid=token-name] input").FillAsync("lab LIS");
        await admin.ClickAsync("[data-testid=token-create]");
        await Assertions.Expect(admin.Locator("[data-testid=token-secret]")).ToContainTextAsync("wbc_");
        string token = (await admin.Locator("[data-testid=token-secret]").TextContentAsync())!.Trim();
        await admin.ScreenshotAsync(new() { Path = Shot("account-tokens.png"), FullPage = true });
        using (var http = fixture.Portal.CreateClientWithToken(token))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("api/v1/models", TestContext.Current.CancellationToken)).StatusCode);
        }
        // Shown once: a reload lists it by its first characters only.
        await BrowserFixture.GotoInteractiveAsync(admin, new Uri(Url("account")));
        await Assertions.Expect(admin.Locator("[data-testid=token-secret]")).ToHaveCountAsync(0);
        await Assertions.Expect(admin.Locator("[data-testid=token-list]")).ToContainTextAsync("lab LIS");
        Assert.DoesNotContain(token, await admin.ContentAsync());

        await BrowserFixture.GotoInteractiveAsync(admin, new Uri(Url("audit")));
        await Assertions.Expect(admin.Locator("[data-testid=audit-list]")).ToContainTextAsync("user 'nadia'");
        await Assertions.Expect(admin.Locator("[data-testid=audit-list]")).ToContainTextAsync("TokenCreated");
        // Done on the page (through the circuit): the audit has where from, as for a sign-in.
        await Assertions.Expect(admin.Locator("[data-testid=audit-row]", new() { HasText = "user 'nadia'" })).ToContainTextAsync("127.0.0.1");
        await admin.ScreenshotAsync(new() { Path = Shot("audit.png"), FullPage = true });
    }
}
