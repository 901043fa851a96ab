using System.Net;
using System.Text.Json;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Security;

/// <summary>A portal listening on every interface, with a public name and a tight API rate limit.</summary>
public sealed class ExposedPortalTests : IAsyncLifetime
{
    private PortalProcess? portal;
    private PortalProcess Portal => portal!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => portal = await PortalProcess.StartOnEveryInterfaceAsync(
        "--Security:PublicHosts:0", "wbc.lab.example", "--Security:ApiBurst", "3", "--Security:ApiRequestsPerMinute", "2");

    public async ValueTask DisposeAsync()
    {
        if (portal is not null) await portal.DisposeAsync();
    }

    private async Task<HttpResponseMessage> GetAsync(string path, string? host = null)
    {
        using var http = Portal.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (host is not null) request.Headers.Host = host;
        return await http.SendAsync(request, Ct);
    }

    [Fact]
    public async Task A_portal_on_every_interface_warns_and_answers_its_public_names_only()
    {
        Assert.Contains("listens beyond this machine", Portal.Log);
        Assert.Contains("Security:PublicHosts", Portal.Log);
        Assert.Contains("wbc.lab.example", Portal.Log);
        int port = Portal.BaseAddress.Port;
        foreach (var host in new[] { $"wbc.lab.example:{port}", $"{Dns.GetHostName()}:{port}", $"localhost:{port}" })
        {
            using var ok = await GetAsync("/", host);
            Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{host}: {ok.StatusCode}");
        }
        using var rebound = await GetAsync("/", $"attacker-rebinds-to-this.example:{port}");
        Assert.Equal(HttpStatusCode.BadRequest, rebound.StatusCode);
    }

    [Fact]
    public async Task The_api_rate_limit_answers_429_with_retry_after_and_a_problem_document()
    {
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (int i = 0; i < 6 && limited is null; i++)
        {
            var response = await GetAsync("/api/v1/models");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited = response;
            else response.Dispose();
        }
        Assert.NotNull(limited);
        Assert.True(statuses.Count(s => s == HttpStatusCode.OK) >= 3, string.Join(", ", statuses));
        using (limited)
        {
            Assert.True(limited.Headers.RetryAfter?.Delta is { TotalSeconds: >= 1 and <= 60 }, $"Retry-After: {limited.Headers.RetryAfter}");
            Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
            // As the OpenAPI document says (ApiContractTests checks every other documented response).
            using var http = Portal.CreateClient();
            var contract = await ApiContract.LoadAsync(http, Ct);
            using var problem = JsonDocument.Parse(await contract.CheckAsync(limited, "GET", "/api/v1/models", Ct));
            Assert.Equal(429, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Equal("Too many requests", problem.RootElement.GetProperty("title").GetString());
            Assert.Equal("rate-limited", problem.RootElement.GetProperty("code").GetString());
        }
        // Pages are not under the API's limit.
        using var page = await GetAsync("/models");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }
}
