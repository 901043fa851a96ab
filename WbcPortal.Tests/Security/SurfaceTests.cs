using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Security;
using WbcPortal.Tests.Integration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Security;

/// <summary>The hardened surface of the real portal on its default settings (loopback, no proxy, no CORS origin).</summary>
public class SurfaceTests(PortalFixture fixture) : IClassFixture<PortalFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, Action<HttpRequestMessage>? setup = null, HttpContent? content = null)
    {
        using var http = fixture.Portal.CreateClient();
        var request = new HttpRequestMessage(method, path) { Content = content };
        setup?.Invoke(request);
        return await http.SendAsync(request, Ct);
    }

    [Fact]
    public async Task A_request_naming_another_host_is_refused_and_the_portals_own_names_work()
    {
        int port = fixture.Portal.BaseAddress.Port;
        using var rebound = await SendAsync(HttpMethod.Get, "/", r => r.Headers.Host = $"evil.example:{port}");
        Assert.Equal(HttpStatusCode.BadRequest, rebound.StatusCode);
        using var rebound2 = await SendAsync(HttpMethod.Get, "/api/v1/models", r => r.Headers.Host = "evil.example");
        Assert.Equal(HttpStatusCode.BadRequest, rebound2.StatusCode);

        foreach (var host in new[] { $"127.0.0.1:{port}", $"localhost:{port}", $"LOCALHOST:{port}" })
        {
            using var own = await SendAsync(HttpMethod.Get, "/", r => r.Headers.Host = host);
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        }
    }

    [Fact]
    public async Task Every_response_carries_the_security_headers()
    {
        foreach (var path in new[] { "/", "/datasets", "/api/v1/models", "/no/such/page", "/api/v1/nothing", "/favicon.svg" })
        {
            using var response = await SendAsync(HttpMethod.Get, path);
            Assert.True((int)response.StatusCode < 500, $"{path}: {response.StatusCode}");
            string csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("frame-ancestors 'none'", csp);
            Assert.Contains("object-src 'none'", csp);
            var script = csp.Split(';').Select(d => d.Trim()).Single(d => d.StartsWith("script-src ", StringComparison.Ordinal));
            Assert.DoesNotContain("unsafe", script);
            Assert.Matches("'nonce-[0-9A-F]{32}'", script);
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
            Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal("same-origin", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
            string permissions = Assert.Single(response.Headers.GetValues("Permissions-Policy"));
            foreach (var feature in new[] { "camera=()", "microphone=()", "geolocation=()" }) Assert.Contains(feature, permissions);
            // No TLS configured: no HSTS (it would pin a name the portal does not serve over HTTPS).
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        }

        // The nonce is per response, and the import map (the page's only inline script) carries it.
        using var first = await SendAsync(HttpMethod.Get, "/");
        using var second = await SendAsync(HttpMethod.Get, "/");
        string Nonce(HttpResponseMessage r) => System.Text.RegularExpressions.Regex.Match(r.Headers.GetValues("Content-Security-Policy").Single(), "'nonce-([^']+)'").Groups[1].Value;
        Assert.NotEqual(Nonce(first), Nonce(second));
        string html = await first.Content.ReadAsStringAsync(Ct);
        Assert.Contains($"<script type=\"importmap\" nonce=\"{Nonce(first)}\">", html);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<script(?![^>]*\\ssrc=)"));
    }

    [Fact]
    public async Task Cross_site_requests_that_change_state_or_embed_are_refused_and_links_still_open_pages()
    {
        MultipartFormDataContent Form()
        {
            var form = new MultipartFormDataContent();
            form.Add(new ByteArrayContent([1, 2, 3]), "images", "a.jpg");
            return form;
        }
        // What another site's page makes a browser send: refused before the API reads a byte.
        foreach (var (site, origin) in new[] { ("cross-site", "http://evil.example"), ("same-site", "http://127.0.0.1:3000"), ("cross-site", "null") })
        {
            using var refused = await SendAsync(HttpMethod.Post, "/api/v1/predict", r => { r.Headers.Add("Sec-Fetch-Site", site); r.Headers.Add("Sec-Fetch-Mode", "no-cors"); r.Headers.Add("Origin", origin); }, Form());
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Cross-site request refused", await refused.Content.ReadAsStringAsync(Ct));
        }
        // An old browser without fetch metadata still sends Origin on a cross-origin POST.
        using var oldBrowser = await SendAsync(HttpMethod.Post, "/api/v1/smears", r => r.Headers.Add("Origin", "http://evil.example"), Form());
        Assert.Equal(HttpStatusCode.Forbidden, oldBrowser.StatusCode);

        // A script or lab system (no Origin, no fetch metadata) and the portal's own pages reach the API's own checks.
        using var script = await SendAsync(HttpMethod.Post, "/api/v1/predict", null, Form());
        Assert.Equal(HttpStatusCode.Conflict, script.StatusCode); // no active model
        int port = fixture.Portal.BaseAddress.Port;
        using var own = await SendAsync(HttpMethod.Post, "/api/v1/predict", r => { r.Headers.Add("Sec-Fetch-Site", "same-origin"); r.Headers.Add("Origin", $"http://127.0.0.1:{port}"); }, Form());
        Assert.Equal(HttpStatusCode.Conflict, own.StatusCode);

        // Another site may link to a page, but not embed the portal's images or open its circuit.
        using var link = await SendAsync(HttpMethod.Get, "/datasets", r => { r.Headers.Add("Sec-Fetch-Site", "cross-site"); r.Headers.Add("Sec-Fetch-Mode", "navigate"); r.Headers.Add("Sec-Fetch-Dest", "document"); });
        Assert.Equal(HttpStatusCode.OK, link.StatusCode);
        using var framed = await SendAsync(HttpMethod.Get, "/datasets", r => { r.Headers.Add("Sec-Fetch-Site", "cross-site"); r.Headers.Add("Sec-Fetch-Mode", "navigate"); r.Headers.Add("Sec-Fetch-Dest", "iframe"); });
        Assert.Equal(HttpStatusCode.Forbidden, framed.StatusCode);
        using var embedded = await SendAsync(HttpMethod.Get, $"/api/images/{new string('a', 64)}/thumb", r => { r.Headers.Add("Sec-Fetch-Site", "cross-site"); r.Headers.Add("Sec-Fetch-Mode", "no-cors"); r.Headers.Add("Sec-Fetch-Dest", "image"); });
        Assert.Equal(HttpStatusCode.Forbidden, embedded.StatusCode);
        using var socket = await SendAsync(HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1", r => { r.Headers.Add("Sec-Fetch-Site", "cross-site"); r.Headers.Add("Origin", "http://evil.example"); });
        Assert.Equal(HttpStatusCode.Forbidden, socket.StatusCode);
    }

    [Fact]
    public async Task Cors_gives_no_origin_access_to_the_api_by_default()
    {
        using var preflight = await SendAsync(HttpMethod.Options, "/api/v1/predict", r =>
        {
            r.Headers.Add("Origin", "http://lims.example");
            r.Headers.Add("Access-Control-Request-Method", "POST");
            r.Headers.Add("Access-Control-Request-Headers", "content-type");
        });
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
        using var read = await SendAsync(HttpMethod.Get, "/api/v1/models", r => r.Headers.Add("Origin", "http://lims.example"));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.False(read.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task The_api_reads_requests_up_to_its_own_cap_above_the_small_default()
    {
        // 5 MB is over the 1 MB every other route takes and under Inference:MaxRequestBytes (64 MB): read whole, then refused
        // for want of a model, not for its size.
        var form = new MultipartFormDataContent { { new ByteArrayContent(new byte[5 * 1024 * 1024]), "images", "big.jpg" } };
        using var response = await SendAsync(HttpMethod.Post, "/api/v1/predict", null, form);
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
    }

    /// <summary>Every routable page of the portal, found by reflection so that a new page is tested too.</summary>
    public static IReadOnlyList<(string Template, Type Page)> Pages() =>
        typeof(WbcPortal.Components.App).Assembly.GetTypes()
            .SelectMany(t => t.GetCustomAttributes<RouteAttribute>().Select(r => (r.Template, Page: t)))
            .OrderBy(p => p.Template, StringComparer.Ordinal).ToList();

    private static readonly string[] Nonsense = ["abc", "1e308", "-1", "99999999999", "", "NaN", "../../../etc/passwd", "<script>x</script>", "%00"];

    [Fact]
    public async Task Every_page_answers_nonsense_in_each_query_and_route_parameter_without_a_500()
    {
        var pages = Pages();
        Assert.Contains(pages, p => p.Template == "/review");
        Assert.True(pages.Sum(p => PageQueryGuard.Of(p.Page).Count) >= 20, "query parameters found by reflection");
        using var http = fixture.Portal.CreateClient();
        var failures = new List<string>();
        async Task CheckAsync(string url)
        {
            using var response = await http.GetAsync(url, Ct);
            string body = await response.Content.ReadAsStringAsync(Ct);
            if ((int)response.StatusCode >= 500 || (!url.StartsWith("/Error", StringComparison.Ordinal) && body.Contains("Something went wrong", StringComparison.Ordinal)))
                failures.Add($"{url}: {(int)response.StatusCode}");
        }
        foreach (var (template, page) in pages)
        {
            var routeValues = System.Text.RegularExpressions.Regex.IsMatch(template, "{[^}]+}") ? new[] { "1", "-1", "0", "2147483647", "abc" } : [""];
            foreach (var value in routeValues)
            {
                string path = System.Text.RegularExpressions.Regex.Replace(template, "{[^}]+}", value);
                await CheckAsync(path);
                if (value is not ("" or "1")) continue;
                foreach (var parameter in PageQueryGuard.Of(page))
                {
                    foreach (var nonsense in Nonsense)
                    {
                        await CheckAsync($"{path}?{parameter.Name}={Uri.EscapeDataString(nonsense)}");
                    }
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // A value that does not parse is dropped, the others kept: the page opens with its default.
        using var redirect = await http.GetAsync("/review?threshold=1e308&filter=wrong", Ct);
        Assert.Equal(HttpStatusCode.OK, redirect.StatusCode);
        Assert.Equal("/review?filter=wrong", redirect.RequestMessage!.RequestUri!.PathAndQuery);
    }
}

/// <summary>
/// Explain links on their own portal: the review seed writes a dataset without image files, which the dataset and split
/// pages are not made for (the page test above must not meet it).
/// </summary>
public class ExplainLinkTests(PortalFixture fixture) : IClassFixture<PortalFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path)
    {
        using var http = fixture.Portal.CreateClient();
        return await http.SendAsync(new HttpRequestMessage(method, path), Ct);
    }

    [Fact]
    public async Task Explain_with_a_class_the_model_lacks_is_a_400_naming_the_classes_and_no_server_path()
    {
        ReviewSeed seed;
        await using (var services = new ServiceCollection().AddPortalCoreForTests(fixture.Portal.DataDirectory).BuildServiceProvider())
        {
            seed = await ReviewSeed.WriteAsync(services, "explain-cells");
        }
        int image = seed.ImagesOfGroup[1][0];
        using var bad = await SendAsync(HttpMethod.Get, $"/api/runs/{seed.RunId}/explain/{image}.png?class=99");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        string body = await bad.Content.ReadAsStringAsync(Ct);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        Assert.Contains("There is no class 99: the model's classes are 0 to 3 (0 EOSINOPHIL, 1 LYMPHOCYTE, 2 MONOCYTE, 3 NEUTROPHIL)", body);
        Assert.DoesNotContain("Parameter", body);
        using var negative = await SendAsync(HttpMethod.Get, $"/api/runs/{seed.RunId}/explain/{image}.png?class=-1");
        Assert.Equal(HttpStatusCode.BadRequest, negative.StatusCode);

        // A class it has, with the network gone: why, without the server's folder in it.
        using var gone = await SendAsync(HttpMethod.Get, $"/api/runs/{seed.RunId}/explain/{image}.png?class=1");
        string goneBody = await gone.Content.ReadAsStringAsync(Ct);
        Assert.True((int)gone.StatusCode is 404 or 422, $"{gone.StatusCode}: {goneBody}");
        Assert.DoesNotContain(fixture.Portal.DataDirectory, goneBody);
        Assert.DoesNotContain("/tmp/", goneBody);
        // Not a number at all: the endpoint's binding refuses it.
        using var text = await SendAsync(HttpMethod.Get, $"/api/runs/{seed.RunId}/explain/{image}.png?class=abc");
        Assert.Equal(HttpStatusCode.BadRequest, text.StatusCode);
        Assert.DoesNotContain("   at ", await text.Content.ReadAsStringAsync(Ct));
    }
}
