using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Data.Sqlite;
using WbcPortal.Services.Accounts;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Accounts;

/// <summary>
/// Nobody gets anything without signing in: every endpoint and page the app maps (enumerated from the app itself, so a new
/// route cannot be forgotten) refuses an anonymous request, but the sign-in page and the static assets it needs; API tokens
/// work in the Authorization header only, with their role, and stop when revoked.
/// </summary>
public sealed class SignInRequiredTests(PortalFixture fixture) : IClassFixture<PortalFixture>
{
    private static readonly CancellationToken Ct = TestContext.Current.CancellationToken;

    /// <summary>Every route the portal maps, with the methods it answers, from the real app's endpoint sources.</summary>
    private static async Task<IReadOnlyList<(string Pattern, string Method, bool Anonymous)>> RoutesAsync()
    {
        using var data = new TempDirectory("wbc-routes");
        await using var app = await PortalHost.BuildAsync(["--data-dir", data.Path, "--urls", "http://127.0.0.1:0", "--Accounts:InitialAdminPassword", PortalProcess.AdminPassword]);
        var routes = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(m => (e.RoutePattern.RawText ?? "", m, e.Metadata.GetMetadata<IAllowAnonymous>() is not null)))
            .Distinct().ToList();
        return routes;
    }

    private static string Fill(string pattern) =>
        "/" + System.Text.RegularExpressions.Regex.Replace(pattern.TrimStart('/'), @"\{\*{0,2}([^}:=?]+)[^}]*\}", m => m.Groups[1].Value.ToLowerInvariant() switch
        {
            "documentname" => "v1",
            "rest" or "path" or "file" => "x",
            _ => "1",
        });

    [Fact]
    public async Task Every_endpoint_and_page_refuses_a_request_without_sign_in()
    {
        var routes = await RoutesAsync();
        Assert.True(routes.Count > 40, $"only {routes.Count} routes found");
        using var http = fixture.Portal.CreateAnonymousClient();
        var let = new List<string>();
        int asked = 0;
        foreach (var (pattern, method, anonymous) in routes)
        {
            if (anonymous) continue; // the sign-in page and form, static assets: listed below
            string url = Fill(pattern);
            using var request = new HttpRequestMessage(new HttpMethod(method), url);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
            if (method is "POST" or "PUT" or "PATCH") request.Content = new StringContent("");
            using var response = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.Portal.BaseAddress }.SendAsync(request, Ct);
            asked++;
            bool refused = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                || (response.StatusCode == HttpStatusCode.Redirect && response.Headers.Location?.ToString().Contains("/account/signin", StringComparison.Ordinal) == true)
                || (response.StatusCode == HttpStatusCode.BadRequest && method != "GET"); // antiforgery refuses a form post before anything runs
            if (!refused) let.Add($"{method} {url} ({pattern}): {(int)response.StatusCode}");
        }
        Assert.True(let.Count == 0, $"answered without sign-in ({let.Count} of {asked}):\n" + string.Join("\n", let));
        // What is open, and only that: the sign-in page and its form, the assets the page needs.
        var open = routes.Where(r => r.Anonymous).Select(r => r.Pattern).Distinct().ToList();
        Assert.Contains("/account/signin", open);
        Assert.All(open, p => Assert.True(p == "/account/signin" || p.Contains('.') || p.StartsWith("_", StringComparison.Ordinal) || p.StartsWith("/_", StringComparison.Ordinal),
            $"{p} is open to anyone"));
    }

    [Fact]
    public async Task An_api_token_works_in_the_header_only_with_its_role_and_not_once_revoked()
    {
        using var anonymous = fixture.Portal.CreateAnonymousClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/v1/models", Ct)).StatusCode);

        using var admin = fixture.Portal.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("api/v1/models", Ct)).StatusCode);
        string token = await fixture.Portal.CreateTokenAsync(PortalProcess.AdminUser, PortalRole.Admin);
        // A token in the wrong place (the query string, a cookie) signs nobody in.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"api/v1/models?access_token={token}", Ct)).StatusCode);
        using (var cookie = new HttpRequestMessage(HttpMethod.Get, "api/v1/models"))
        {
            cookie.Headers.Add("Cookie", $"wbc.session={token}");
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(cookie, Ct)).StatusCode);
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "api/v1/models"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^2] + "xx");
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(wrong, Ct)).StatusCode);
        }

        // A Viewer's token reads, and is refused a classification (Reviewer and up) with a problem document.
        string viewer = await fixture.Portal.CreateTokenAsync("vera", PortalRole.Viewer);
        using var viewerClient = fixture.Portal.CreateClientWithToken(viewer);
        Assert.Equal(HttpStatusCode.OK, (await viewerClient.GetAsync("api/v1/models", Ct)).StatusCode);
        using var form = new MultipartFormDataContent { { new ByteArrayContent(SmearJpeg()), "images", "a.jpg" } };
        var predict = await viewerClient.PostAsync("api/v1/predict", form, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, predict.StatusCode);
        Assert.Contains("Reviewer", await predict.Content.ReadAsStringAsync(Ct));

        // Revoked (as its user would on the account page): refused from then on. Only the hash is stored.
        await using (var db = new SqliteConnection($"Data Source={Path.Combine(fixture.DataDirectory, "wbcportal.db")}"))
        {
            await db.OpenAsync(Ct);
            await using var command = db.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM api_tokens WHERE Hash = $h";
            command.Parameters.AddWithValue("$h", ApiTokens.Hash(viewer));
            Assert.Equal(1L, (long)(await command.ExecuteScalarAsync(Ct))!);
            command.CommandText = "SELECT COUNT(*) FROM api_tokens WHERE Hash = $t OR Prefix = $t";
            command.Parameters.AddWithValue("$t", viewer);
            Assert.Equal(0L, (long)(await command.ExecuteScalarAsync(Ct))!);
            command.CommandText = "UPDATE api_tokens SET RevokedAt = 1 WHERE Hash = $h";
            await command.ExecuteNonQueryAsync(Ct);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await viewerClient.GetAsync("api/v1/models", Ct)).StatusCode);
    }

    private static byte[] SmearJpeg()
    {
        using var image = TestImages.Smear(64, 48);
        using var stream = new MemoryStream();
        SixLabors.ImageSharp.ImageExtensions.SaveAsJpeg(image, stream);
        return stream.ToArray();
    }

    [Fact]
    public async Task The_audit_is_append_only_in_the_code_and_in_the_database()
    {
        // The database refuses any change to a row.
        using var admin = fixture.Portal.CreateClient();
        await admin.GetAsync("api/v1/models", Ct);
        await using (var db = new SqliteConnection($"Data Source={Path.Combine(fixture.DataDirectory, "wbcportal.db")}"))
        {
            await db.OpenAsync(Ct);
            await using var command = db.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM audit_entries";
            Assert.True((long)(await command.ExecuteScalarAsync(Ct))! > 0, "the first Admin and the test's tokens are in the audit");
            command.CommandText = "UPDATE audit_entries SET Actor = 'someone else'";
            Assert.Contains("append-only", (await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync(Ct))).Message);
            command.CommandText = "DELETE FROM audit_entries";
            Assert.Contains("append-only", (await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync(Ct))).Message);
        }
        // And no code path writes it otherwise than by adding.
        string root = Path.Combine(PortalProcess.RepositoryRoot(), "WbcPortal");
        var offenders = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains("Migrations"))
            .Where(f => System.Text.RegularExpressions.Regex.IsMatch(File.ReadAllText(f), @"AuditEntries\s*\.\s*(Remove|RemoveRange|Update|UpdateRange|Attach|ExecuteDelete|ExecuteUpdate)|audit_entries[^""]*(UPDATE|DELETE)", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
            .ToList();
        Assert.Empty(offenders);
    }
}
