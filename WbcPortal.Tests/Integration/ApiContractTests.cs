using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 26 item 2, "a contract that holds": a real portal's every documented response (each route, each status) is
/// provoked and checked against the OpenAPI document it serves, with a JSON Schema validator; the refusals carry their
/// documented code and a trace id; 405 and 415 where due; the document passes Redocly's lint (strict) without a problem.
/// The portal has two models, neither active: "cells" (a real export) and "ghost" (its file is gone).
/// </summary>
public sealed class ApiContractTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];
    private const int MaxImages = 3;
    private const int MaxRequestBytes = 1024 * 1024;

    /// <summary>Documented responses this class cannot provoke on its own portal, and where they are checked instead.</summary>
    private static readonly Dictionary<string, string> CheckedElsewhere = new()
    {
        ["429"] = "the rate limit: ExposedPortalTests checks a 429 against the document (a portal with a tiny burst)",
        ["503"] = "the decode budget: DecodeBudgetApiTests checks a 503 against the document (a portal with a 64 MB budget)",
    };

    private readonly TempDirectory data = new("wbc-contract");
    private PortalProcess portal = default!;
    private string modelPath = "";
    private int cellsId, ghostId;

    public async ValueTask InitializeAsync()
    {
        await using (var services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider())
        {
            await services.MigrateAsync();
            var backbone = new ResNet18Backbone(PretrainedModelFiles.Default);
            using var model = ClassifierOnnxExportTests.TrainedLooking(backbone, HeadSpec.Linear, Labels.Length, seed: 3);
            modelPath = Path.Combine(data.Path, "models", "cells.onnx");
            new ClassifierOnnxExporter(PretrainedModelFiles.Default).Export(model,
                new ClassifierOnnxMetadata(Labels, 64, 64, Temperature: 1.5, RejectThreshold: 0.6, RejectTargetAccuracy: 0.95), modelPath);
            var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
            await using var db = await contexts.CreateDbContextAsync(Ct);
            var cells = new RegisteredModel { Name = "cells", OnnxPath = "models/cells.onnx", Labels = string.Join(",", Labels), InputHeight = 64, InputWidth = 64, IsActive = false, CreatedAt = DateTimeOffset.UtcNow };
            var ghost = new RegisteredModel { Name = "ghost", OnnxPath = "models/ghost.onnx", Labels = string.Join(",", Labels), InputHeight = 64, InputWidth = 64, IsActive = false, CreatedAt = DateTimeOffset.UtcNow };
            db.Models.AddRange(cells, ghost);
            await db.SaveChangesAsync(Ct);
            (cellsId, ghostId) = (cells.Id, ghost.Id);
        }
        portal = await PortalProcess.StartOnAsync(data.Path, $"--Inference:MaxImagesPerRequest={MaxImages}", $"--Inference:MaxRequestBytes={MaxRequestBytes}",
            "--Api:PublicBaseUrl=https://wbc.lab.example/");
    }

    public async ValueTask DisposeAsync()
    {
        await portal.DisposeAsync();
        data.Dispose();
    }

    private static byte[] Png(int seed, int width = 80, int height = 60)
    {
        using var image = TestImages.Smear(width, height, seed);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    private static MultipartFormDataContent Form(string field, params (string Name, byte[] Bytes)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, bytes) in files)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(part, field, name);
        }
        return form;
    }

    private static MultipartFormDataContent Images(params (string Name, byte[] Bytes)[] files) => Form("images", files);

    /// <summary>Sends, checks the answer against the document, and for a refusal its code, type and trace id.</summary>
    private static async Task<string> ExpectAsync(ApiContract contract, HttpClient http, HttpMethod method, string url, string template, HttpStatusCode status,
        string? code = null, HttpContent? content = null, Action<HttpRequestMessage>? prepare = null)
    {
        using var request = new HttpRequestMessage(method, url) { Content = content };
        prepare?.Invoke(request);
        using var response = await http.SendAsync(request, Ct);
        string body = await contract.CheckAsync(response, method.Method, template, Ct);
        Assert.True(status == response.StatusCode, $"{method} {url}: {(int)response.StatusCode} {body}");
        if (code is not null)
        {
            using var problem = JsonDocument.Parse(body);
            Assert.True(code == problem.RootElement.GetProperty("code").GetString(), $"{method} {url}: expected {code}: {body}");
            Assert.Equal($"urn:wbcportal:problem:{code}", problem.RootElement.GetProperty("type").GetString());
            Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("traceId").GetString()));
        }
        return body;
    }

    [Fact]
    public async Task Every_documented_response_of_a_real_portal_matches_the_document()
    {
        using var admin = portal.CreateClient(TimeSpan.FromSeconds(60));
        var contract = await ApiContract.LoadAsync(admin, Ct);
        using var reviewer = portal.CreateClientWithToken(await portal.CreateTokenAsync("lab", PortalRole.Reviewer), TimeSpan.FromSeconds(60));
        using var viewer = portal.CreateClientWithToken(await portal.CreateTokenAsync("watcher", PortalRole.Viewer));
        using var anonymous = portal.CreateAnonymousClient();

        // The server is the configured address, not whatever Host the request named.
        Assert.Equal("https://wbc.lab.example", contract.Document["servers"]![0]!["url"]!.GetValue<string>());

        foreach (var (route, smears) in new[] { ("/api/v1/predict", false), ("/api/v1/smears", true), ("/api/v1/window", false) })
        {
            string url = route.TrimStart('/');
            bool window = route.EndsWith("/window", StringComparison.Ordinal);
            var good = smears
                ? SmearBatchesTests.Smears().Where(i => i.File is "one-cell.png" or "broken.jpg").Select(i => (i.File, i.Bytes)).ToArray()
                : window ? [("a.png", Png(1))] : [("a.png", Png(1)), ("broken.jpg", "not an image"u8.ToArray())];
            // An answer and an error in one request: both item shapes (the window route answers one image's PNG).
            string ok = await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.OK, content: Images(good));
            if (window)
            {
                await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.BadRequest, "one-image-only", Images(("a.png", Png(1)), ("b.png", Png(2))));
                await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.BadRequest, "unreadable-image", Images(("broken.jpg", "not an image"u8.ToArray())));
            }
            else
            using (var answer = JsonDocument.Parse(ok))
            {
                var items = answer.RootElement.GetProperty(smears ? "images" : "predictions");
                Assert.False(items[0].TryGetProperty("error", out _));
                Assert.True(items[1].TryGetProperty("error", out _));
                Assert.False(items[1].TryGetProperty(smears ? "cells" : "label", out _));
                Assert.Equal(JsonValueKind.Number, answer.RootElement.GetProperty("model").GetProperty("rejectThreshold").ValueKind);
            }
            // A form without any part: only the closing delimiter.
            var empty = new ByteArrayContent("--b--\r\n"u8.ToArray());
            empty.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=b");
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.BadRequest, "no-image", empty);
            // A misnamed field is refused, not read as an image.
            await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.BadRequest, "unknown-form-field", Form("file", ("a.png", Png(1))));
            var noBoundary = new ByteArrayContent([1, 2, 3]);
            noBoundary.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data");
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.BadRequest, "unreadable-form", noBoundary);
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.RequestEntityTooLarge, "too-many-images",
                Images([.. Enumerable.Range(0, MaxImages + 1).Select(i => ($"{i}.png", Png(i)))]));
            // Refused on its Content-Length, before the body is sent (as curl does for a large body, the client waits for 100-continue).
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.RequestEntityTooLarge, "request-too-large", Images(("big.png", new byte[MaxRequestBytes + 1])),
                r => r.Headers.ExpectContinue = true);
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.UnsupportedMediaType, "unsupported-media-type",
                new StringContent("{\"images\":[]}", Encoding.UTF8, "application/json"));
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.UnsupportedMediaType, "unsupported-media-type",
                new FormUrlEncodedContent([new("images", "a.png")]));
            await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=nope", route, HttpStatusCode.NotFound, "model-not-found", Images(("a.png", Png(1))));
            await ExpectAsync(contract, reviewer, HttpMethod.Post, url, route, HttpStatusCode.Conflict, "no-active-model", Images(("a.png", Png(1))));
            await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=ghost", route, HttpStatusCode.Conflict, "model-file-missing", Images(("a.png", Png(1))));
            await ExpectAsync(contract, viewer, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.Forbidden, "role-forbidden", Images(("a.png", Png(1))));
            await ExpectAsync(contract, reviewer, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.Forbidden, "cross-site-refused", Images(("a.png", Png(1))),
                r => { r.Headers.Add("Origin", "http://evil.example"); r.Headers.Add("Sec-Fetch-Site", "cross-site"); r.Headers.Add("Sec-Fetch-Mode", "no-cors"); });
            await ExpectAsync(contract, anonymous, HttpMethod.Post, $"{url}?model=cells", route, HttpStatusCode.Unauthorized, "sign-in-required", Images(("a.png", Png(1))));
        }

        // The Classify page's CSV without a browser: predict asked for text/csv.
        string csv = await ExpectAsync(contract, reviewer, HttpMethod.Post, "api/v1/predict?model=cells", "/api/v1/predict", HttpStatusCode.OK,
            content: Images(("a.png", Png(1)), ("broken.jpg", "x"u8.ToArray())), prepare: r => r.Headers.Accept.ParseAdd("text/csv"));
        var rows = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("file,answer,confidence,guess,p_EOSINOPHIL,p_NEUTROPHIL,error", rows[0]);
        Assert.Equal(3, rows.Length);
        Assert.StartsWith("broken.jpg,,,,,,", rows[2], StringComparison.Ordinal);

        const string Models = "/api/v1/models", Model = "/api/v1/models/{id}", Onnx = "/api/v1/models/{id}/onnx";
        await ExpectAsync(contract, viewer, HttpMethod.Get, "api/v1/models", Models, HttpStatusCode.OK);
        await ExpectAsync(contract, anonymous, HttpMethod.Get, "api/v1/models", Models, HttpStatusCode.Unauthorized, "sign-in-required");
        await ExpectAsync(contract, viewer, HttpMethod.Get, $"api/v1/models/{cellsId}", Model, HttpStatusCode.OK);
        await ExpectAsync(contract, viewer, HttpMethod.Get, $"api/v1/models/{ghostId}", Model, HttpStatusCode.OK);
        await ExpectAsync(contract, viewer, HttpMethod.Get, "api/v1/models/9999", Model, HttpStatusCode.NotFound, "model-not-found");
        await ExpectAsync(contract, anonymous, HttpMethod.Get, $"api/v1/models/{cellsId}", Model, HttpStatusCode.Unauthorized, "sign-in-required");
        using (var download = await viewer.GetAsync($"api/v1/models/{cellsId}/onnx", Ct))
        {
            Assert.Equal(await File.ReadAllBytesAsync(modelPath, Ct), await download.Content.ReadAsByteArrayAsync(Ct));
            await contract.CheckAsync(download, "GET", Onnx, Ct);
            Assert.Equal("application/octet-stream", download.Content.Headers.ContentType?.MediaType);
        }
        await ExpectAsync(contract, viewer, HttpMethod.Get, "api/v1/models/9999/onnx", Onnx, HttpStatusCode.NotFound, "model-not-found");
        await ExpectAsync(contract, viewer, HttpMethod.Get, $"api/v1/models/{ghostId}/onnx", Onnx, HttpStatusCode.Conflict, "model-file-missing");
        await ExpectAsync(contract, anonymous, HttpMethod.Get, $"api/v1/models/{cellsId}/onnx", Onnx, HttpStatusCode.Unauthorized, "sign-in-required");

        // Every documented response was seen here, but those checked by the classes named above.
        var missing = contract.Documented().Except(contract.Seen).Where(k => !CheckedElsewhere.ContainsKey(k[^3..])).ToList();
        Assert.True(missing.Count == 0, "documented but never provoked: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task The_document_refuses_what_the_issue_found_the_server_could_be_read_to_send()
    {
        using var http = portal.CreateClient();
        var contract = await ApiContract.LoadAsync(http, Ct);
        const string Model = "\"model\":{\"id\":1,\"name\":\"cells\",\"rejectThreshold\":0.6,\"temperature\":1.5,\"labels\":[\"A\",\"B\"]}";
        string Response(string item) => $"{{{Model},\"predictions\":[{item}],\"counts\":{{\"A\":1}}}}";
        // What the server sends passes: an answer without guess, an error alone.
        contract.ValidateComponent("ApiPredictResponse", Response("{\"file\":\"a.png\",\"label\":\"A\",\"confidence\":0.9,\"probabilities\":{\"A\":0.9,\"B\":0.1}}"));
        contract.ValidateComponent("ApiPredictResponse", Response("{\"file\":\"b.png\",\"error\":\"not an image\"}"));
        // What it never sends does not: a number as a string, a null, an item that is both an answer and an error, one that is neither.
        foreach (var item in new[]
        {
            "{\"file\":\"a.png\",\"label\":\"A\",\"confidence\":\"0.9\",\"probabilities\":{\"A\":0.9,\"B\":0.1}}",
            "{\"file\":\"a.png\",\"label\":\"A\",\"confidence\":0.9,\"probabilities\":{\"A\":0.9,\"B\":0.1},\"guess\":null}",
            "{\"file\":\"a.png\",\"label\":\"A\",\"confidence\":0.9,\"probabilities\":{\"A\":0.9,\"B\":0.1},\"error\":\"x\"}",
            "{\"file\":\"a.png\"}",
        })
        {
            Assert.Throws<Xunit.Sdk.XunitException>(() => contract.ValidateComponent("ApiPredictResponse", Response(item)));
        }
        Assert.Throws<Xunit.Sdk.XunitException>(() => contract.ValidateComponent("ApiProblem", "{\"type\":\"urn:wbcportal:problem:x\",\"title\":\"t\",\"status\":400,\"code\":\"no-such-code\",\"traceId\":\"1\"}"));
    }

    [Fact]
    public async Task A_known_path_with_another_method_is_405_and_an_unknown_path_404_both_problem_documents_and_every_refusal_whatever_it_accepts()
    {
        using var http = portal.CreateClient();
        var contract = await ApiContract.LoadAsync(http, Ct);
        foreach (var (method, url, allow) in new[]
        {
            (HttpMethod.Get, "api/v1/predict", "POST"), (HttpMethod.Put, "api/v1/smears", "POST"), (HttpMethod.Delete, $"api/v1/models/{cellsId}", "GET"),
            (HttpMethod.Post, "api/v1/models", "GET"), (HttpMethod.Post, $"api/v1/models/{cellsId}/onnx", "GET"), (HttpMethod.Head, "api/v1/models", "GET"),
        })
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, url), Ct);
            string body = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.MethodNotAllowed, $"{method} {url}: {(int)response.StatusCode} {body}");
            Assert.Equal([allow], response.Content.Headers.Allow);
            if (method == HttpMethod.Head) continue; // no body, by definition
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            contract.ValidateComponent("ApiProblem", body);
            Assert.Equal("method-not-allowed", JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
        }
        foreach (var url in new[] { "api/v1/no/such/thing", "api/v1/models/abc", "api/v1/predict/extra" })
        {
            using var response = await http.GetAsync(url, Ct);
            string body = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"GET {url}: {(int)response.StatusCode} {body}");
            contract.ValidateComponent("ApiProblem", body);
            Assert.Equal("endpoint-not-found", JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
        }

        // A client whose Accept names no JSON (a browser's text/html, an image tag's image/*) still gets the whole problem:
        // its code and its trace id, from each way a refusal is written (a route's result, sign-in, the 405 and 404 middleware).
        using var anonymous = portal.CreateAnonymousClient();
        foreach (var accept in new[] { "text/html", "image/png" })
        {
            foreach (var (client, method, url, code) in new[]
            {
                (http, HttpMethod.Get, "api/v1/models/9999", "model-not-found"), (http, HttpMethod.Post, "api/v1/predict", "no-active-model"),
                (anonymous, HttpMethod.Get, "api/v1/models", "sign-in-required"), (http, HttpMethod.Delete, "api/v1/models", "method-not-allowed"),
                (http, HttpMethod.Get, "api/v1/no/such/thing", "endpoint-not-found"),
            })
            {
                using var request = new HttpRequestMessage(method, url);
                request.Headers.Accept.ParseAdd(accept);
                if (method == HttpMethod.Post) request.Content = Images(("a.png", Png(1)));
                using var response = await client.SendAsync(request, Ct);
                string body = await response.Content.ReadAsStringAsync(Ct);
                Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{method} {url} (Accept {accept}): {response.Content.Headers.ContentType} {body}");
                contract.ValidateComponent("ApiProblem", body);
                using var problem = JsonDocument.Parse(body);
                Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
                Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("traceId").GetString()), $"{method} {url} (Accept {accept}): no traceId: {body}");
            }
        }
    }

    [Fact]
    public async Task The_served_document_passes_the_OpenAPI_linter_without_a_problem()
    {
        string lint = Path.Combine(PortalProcess.RepositoryRoot(), "WbcPortal.Tests", "OpenApiLint");
        string cli = Path.Combine(lint, "node_modules", "@redocly", "cli", "bin", "cli.js");
        if (!OnPath("node")) Assert.Skip("node is not installed: the OpenAPI lint (Redocly CLI) needs Node.js 20.19 or newer; .build/prerequisites.sh installs the linter where node is.");
        Assert.True(File.Exists(cli), $"The linter is not installed in {lint}: run .build/prerequisites.sh (npm ci there).");

        using var http = portal.CreateClient();
        string document = Path.Combine(data.Path, "openapi-v1.json");
        await File.WriteAllTextAsync(document, await http.GetStringAsync("openapi/v1.json", Ct), Ct);
        var start = new ProcessStartInfo("node", [cli, "lint", "--config", Path.Combine(lint, "redocly.yaml"), "--format", "stylish", document])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = lint,
            Environment = { ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true", ["NO_COLOR"] = "1" },
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"redocly lint failed ({process.ExitCode}):\n{output}");
        // Strict: warnings are errors too, so a clean exit means no problem at all; say so in the log.
        TestContext.Current.SendDiagnosticMessage("redocly lint: {0}", output.Split('\n').LastOrDefault(l => l.Contains("valid", StringComparison.OrdinalIgnoreCase)) ?? output);
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, program)));
}
