using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using WbcPortal.Services.Benchmarks;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Hostile;

/// <summary>
/// Issue 24 item 4 through a real portal with a 64 MB decode budget and no wait: a request whose images find no room is
/// refused whole with 503, Retry-After and a problem document, keeps nothing, and gives its room back (the next request
/// is answered); an image larger than the whole budget gets its own error.
/// </summary>
[Collection(nameof(HostileInputsCollection))]
public sealed class DecodeBudgetApiTests(HostileInputsFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MultipartFormDataContent Form(params (string Name, byte[] Bytes)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, bytes) in files)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(part, "images", name);
        }
        return form;
    }

    [Fact]
    public async Task A_request_without_room_is_refused_with_503_and_Retry_After_and_the_budget_comes_back()
    {
        string data = Path.Combine(fixture.Root.Path, $"budget-{Guid.NewGuid():N}");
        await fixture.RegisterModelAsync(data);
        await using var portal = await PortalProcess.StartOnAsync(data, "--Imaging:DecodeBudgetMegabytes=64", "--Imaging:RequestWaitSeconds=0");
        using var client = portal.CreateClient(TimeSpan.FromSeconds(120));
        var filesBefore = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Where(f => !f.Contains("wbcportal.db", StringComparison.Ordinal)).Order().ToList();

        // Six 4.8 MP progressive JPEGs: each reserves ~50 MB, so only one fits at a time, and none may wait.
        var big = HostileInputs.ProgressiveJpeg(2200, 2200);
        using (var response = await client.PostAsync("/api/v1/predict", Form([.. Enumerable.Range(0, 6).Select(i => ($"big{i}.jpg", big))]), Ct))
        {
            // As the OpenAPI document says (ApiContractTests checks every other documented response).
            string body = await (await ApiContract.LoadAsync(client, Ct)).CheckAsync(response, "POST", "/api/v1/predict", Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), body);
            using var problem = JsonDocument.Parse(body);
            Assert.Equal("Busy decoding images", problem.RootElement.GetProperty("title").GetString());
            Assert.Equal("decoding-busy", problem.RootElement.GetProperty("code").GetString());
            Assert.Contains("memory budget allows (64 MB)", problem.RootElement.GetProperty("detail").GetString());
        }

        // The room came back: one image is answered, and a bomb larger than the whole budget gets its own reason.
        var bomb = HostileInputs.ProgressiveJpeg(7296, 5472);
        using (var response = await client.PostAsync("/api/v1/predict", Form(("cell.jpg", big), ("bomb.jpg", bomb)), Ct))
        {
            string body = await response.Content.ReadAsStringAsync(Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(body);
            var predictions = json.RootElement.GetProperty("predictions");
            Assert.True(predictions[0].TryGetProperty("label", out _), body);
            Assert.Contains("more than the whole decoding budget of 64 MB", predictions[1].GetProperty("error").GetString());
        }

        // Nothing was kept from either request.
        var filesAfter = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Where(f => !f.Contains("wbcportal.db", StringComparison.Ordinal)).Order().ToList();
        Assert.Equal(filesBefore.Where(f => !f.Contains("hangfire", StringComparison.Ordinal)), filesAfter.Where(f => !f.Contains("hangfire", StringComparison.Ordinal)));
        Assert.False(portal.HasExited);
    }
}
