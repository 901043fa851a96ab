using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// A real portal with one registered model (an exported ResNet18 classifier with a reject threshold): the API's
/// predictions equal the model's own, per-image errors stay per image, every 4xx is a problem document, concurrent
/// clients all get their answers, and the <c>predict</c> verb beside the running portal says the same.
/// </summary>
[Trait("Category", "Torch")]
public sealed class ApiV1Tests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];
    private readonly TempDirectory data = new("wbc-api");
    private PortalProcess portal = default!;
    private string modelPath = "";
    private int modelId;

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
            var registered = new RegisteredModel { Name = "cells", OnnxPath = "models/cells.onnx", Labels = string.Join(",", Labels), InputHeight = 64, InputWidth = 64, IsActive = true, CreatedAt = DateTimeOffset.UtcNow };
            db.Models.Add(registered);
            await db.SaveChangesAsync(Ct);
            modelId = registered.Id;
        }
        portal = await PortalProcess.StartOnAsync(data.Path, "--Inference:MaxImagesPerRequest=5");
    }

    public async ValueTask DisposeAsync()
    {
        await portal.DisposeAsync();
        data.Dispose();
    }

    private HttpClient Client() => portal.CreateClient(TimeSpan.FromSeconds(60));

    private static byte[] Png(int seed)
    {
        using var image = TestImages.Smear(80, 60, seed);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

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

    private static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
        return problem;
    }

    [Fact]
    public async Task Predict_answers_each_image_as_the_model_itself_and_keeps_a_bad_image_to_itself()
    {
        using var http = Client();
        using var response = await http.PostAsync("api/v1/predict", Form(("a.png", Png(1)), ("b.png", Png(2)), ("broken.jpg", "not an image"u8.ToArray())), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("cells", body.GetProperty("model").GetProperty("name").GetString());
        Assert.Equal(0.6, body.GetProperty("model").GetProperty("rejectThreshold").GetDouble());
        var predictions = body.GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(["a.png", "b.png", "broken.jpg"], predictions.Select(p => p.GetProperty("file").GetString()));
        Assert.False(string.IsNullOrEmpty(predictions[2].GetProperty("error").GetString()));
        Assert.False(predictions[2].TryGetProperty("label", out _));

        // The same images through the model directly (batched differently): the same probabilities.
        var sessions = new OnnxSessionFactory(new ComputeOptions { OnnxUseCuda = false });
        using var classifier = OnnxClassifier.Load(modelPath, sessions, new BackboneRegistry([new ResNet18Backbone(PretrainedModelFiles.Default)]));
        for (int i = 0; i < 2; i++)
        {
            using var image = Image.Load<Rgb24>(Png(i + 1));
            var decision = classifier.Decide(classifier.Logits([image])[0]);
            var probabilities = classifier.Probabilities(classifier.Logits([image])[0]);
            var p = predictions[i];
            Assert.Equal(decision.Unidentified ? "Unidentified" : Labels[decision.Predicted], p.GetProperty("label").GetString());
            Assert.Equal(decision.Confidence, p.GetProperty("confidence").GetDouble(), 5);
            for (int c = 0; c < Labels.Length; c++) Assert.Equal(probabilities[c], p.GetProperty("probabilities").GetProperty(Labels[c]).GetDouble(), 5);
            Assert.Equal(decision.Unidentified, p.TryGetProperty("guess", out _));
        }
        Assert.Equal(2, body.GetProperty("counts").EnumerateObject().Sum(c => c.Value.GetInt32()));
    }

    [Fact]
    public async Task The_window_endpoint_answers_the_window_the_self_contained_model_takes()
    {
        using var http = Client();
        using var response = await http.PostAsync("api/v1/window", Form(("a.png", Png(4))), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        using var window = Image.Load<Rgb24>(await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal((64, 64), (window.Width, window.Height));
        var pixels = new byte[64 * 64 * 3];
        window.CopyPixelDataTo(pixels);

        var sessions = new OnnxSessionFactory(new ComputeOptions { OnnxUseCuda = false });
        using var classifier = OnnxClassifier.Load(modelPath, sessions, new BackboneRegistry([new ResNet18Backbone(PretrainedModelFiles.Default)]));
        Assert.True(classifier.TakesWindow);
        using var image = Image.Load<Rgb24>(Png(4));
        Assert.Equal(classifier.WindowBytes(image), pixels);
        // The window alone through the graph gives /predict's probabilities.
        using var session = sessions.Create(modelPath);
        using var run = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(WbcPortal.Engine.Models.Onnx.WindowGraph.WindowName,
            new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<byte>(pixels, [1, 64, 64, 3]))]);
        var probs = run.Single(r => r.Name == "probs").AsTensor<float>().ToArray();
        using var predicted = await http.PostAsync("api/v1/predict", Form(("a.png", Png(4))), Ct);
        var answer = JsonDocument.Parse(await predicted.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("predictions")[0].GetProperty("probabilities");
        for (int c = 0; c < Labels.Length; c++) Assert.Equal(answer.GetProperty(Labels[c]).GetDouble(), probs[c], 5);

        await Problem(await http.PostAsync("api/v1/window", Form(("a.png", Png(1)), ("b.png", Png(2))), Ct), HttpStatusCode.BadRequest);
        await Problem(await http.PostAsync("api/v1/window", Form(("broken.png", [1, 2, 3])), Ct), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Every_refusal_is_a_problem_document()
    {
        using var http = Client();
        await Problem(await http.PostAsync("api/v1/predict", Form(), Ct), HttpStatusCode.BadRequest); // no image
        var tooMany = Enumerable.Range(0, 6).Select(i => ($"{i}.png", Png(i))).ToArray();
        Assert.Contains("at most 5", (await Problem(await http.PostAsync("api/v1/predict", Form(tooMany), Ct), HttpStatusCode.RequestEntityTooLarge)).GetProperty("detail").GetString());
        await Problem(await http.PostAsync("api/v1/predict?model=nope", Form(("a.png", Png(1))), Ct), HttpStatusCode.NotFound);
        await Problem(await http.PostAsync("api/v1/predict", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), Ct), HttpStatusCode.UnsupportedMediaType);
        await Problem(await http.GetAsync("api/v1/models/9999", Ct), HttpStatusCode.NotFound);
        await Problem(await http.GetAsync("api/v1/models/9999/onnx", Ct), HttpStatusCode.NotFound);
        await Problem(await http.GetAsync("api/v1/no/such/thing", Ct), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Models_are_listed_described_and_downloaded_and_the_reference_is_served()
    {
        using var http = Client();
        var list = JsonDocument.Parse(await http.GetStringAsync("api/v1/models", Ct)).RootElement.EnumerateArray().ToList();
        var card = Assert.Single(list);
        Assert.Equal(modelId, card.GetProperty("id").GetInt32());
        Assert.True(card.GetProperty("active").GetBoolean());
        Assert.Equal(0.6, card.GetProperty("rejectThreshold").GetDouble());
        Assert.Equal(Labels, card.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        var one = JsonDocument.Parse(await http.GetStringAsync($"api/v1/models/{modelId}", Ct)).RootElement;
        Assert.Equal("cells", one.GetProperty("name").GetString());
        Assert.Equal(await File.ReadAllBytesAsync(modelPath, Ct), await http.GetByteArrayAsync($"api/v1/models/{modelId}/onnx", Ct));

        var openApi = JsonDocument.Parse(await http.GetStringAsync("openapi/v1.json", Ct)).RootElement;
        var paths = openApi.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/api/v1/predict", paths);
        Assert.Contains("/api/v1/models/{id}/onnx", paths);
        Assert.True(openApi.GetProperty("paths").GetProperty("/api/v1/predict").GetProperty("post").GetProperty("requestBody").GetProperty("content").TryGetProperty("multipart/form-data", out _));
        // Only the v1 contract (not the pages' own URLs, such as the review decisions with reviewers' names), behind a bearer token.
        Assert.All(paths, p => Assert.StartsWith("/api/v1/", p));
        Assert.Equal("bearer", openApi.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());
        Assert.True(openApi.GetProperty("security").GetArrayLength() > 0);
        using var reference = await http.GetAsync("api/reference/v1", Ct);
        Assert.Equal(HttpStatusCode.OK, reference.StatusCode);
    }

    [Fact]
    public async Task Twenty_concurrent_clients_all_get_their_answers_and_the_verb_beside_the_portal_agrees()
    {
        var png = Png(7);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var http = Client();
            using var response = await http.PostAsync("api/v1/predict", Form(("x.png", png)), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("predictions")[0].GetProperty("confidence").GetDouble();
        }));
        Assert.All(answers, a => Assert.Equal(answers[0], a, 5));

        // predict changes nothing, so it runs while the portal holds the data folder.
        string file = Path.Combine(data.Path, "x.png");
        await File.WriteAllBytesAsync(file, png, Ct);
        var (code, stdout, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromMinutes(2), "predict", "--model", "cells", file, "--data-dir", data.Path, "--json");
        Assert.True(code == 0, stderr);
        var cliDocument = JsonDocument.Parse(stdout).RootElement;
        var cli = cliDocument.GetProperty("predictions")[0];
        Assert.Equal(file, cli.GetProperty("file").GetString());
        Assert.Equal(answers[0], cli.GetProperty("confidence").GetDouble(), 5);
        // The verb and the API say it with the same keys (CLI.md): model, predictions, counts, and the same keys inside.
        using (var http = Client())
        using (var response = await http.PostAsync("api/v1/predict", Form(("x.png", png)), Ct))
        {
            var api = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
            static string[] Keys(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)];
            Assert.Equal(["counts", "model", "predictions"], Keys(cliDocument));
            Assert.Equal(Keys(api), Keys(cliDocument));
            Assert.Equal(Keys(api.GetProperty("model")), Keys(cliDocument.GetProperty("model")));
            Assert.Equal(Keys(api.GetProperty("predictions")[0]), Keys(cli));
            Assert.True(JsonElement.DeepEquals(api.GetProperty("counts"), cliDocument.GetProperty("counts")), $"{api.GetProperty("counts")} vs {cliDocument.GetProperty("counts")}");
        }
        var (fileCode, fileOut, fileErr) = await PortalProcess.RunVerbAsync(TimeSpan.FromMinutes(2), "predict", "--model", modelPath, file, "--data-dir", data.Path, "--json");
        Assert.True(fileCode == 0, fileErr);
        Assert.Equal(answers[0], JsonDocument.Parse(fileOut).RootElement.GetProperty("predictions")[0].GetProperty("confidence").GetDouble(), 5);
    }

    [Fact]
    public async Task Smears_are_answered_cell_by_cell_with_the_count_and_the_verb_beside_the_portal_agrees()
    {
        var inputs = SmearBatchesTests.Smears();
        using var http = Client();
        using var response = await http.PostAsync("api/v1/smears", Form(inputs.Select(i => (i.File, i.Bytes)).ToArray()), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var api = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        var images = api.GetProperty("images");
        Assert.Equal([2, 1, 0], Enumerable.Range(0, 3).Select(i => images[i].GetProperty("cells").GetArrayLength()));
        Assert.True(images[3].TryGetProperty("error", out var error) && error.GetString() is { Length: > 0 });
        var box = images[0].GetProperty("cells")[0].GetProperty("box");
        Assert.Equal(4, box.GetArrayLength());
        Assert.Equal(3, api.GetProperty("counts").EnumerateObject().Sum(p => p.Value.GetInt32()));
        Assert.Equal(3, api.GetProperty("differential").GetProperty("cells").GetInt32());

        // The verb reads the same smears beside the running portal and says the same.
        var files = new List<string>();
        foreach (var input in inputs.Take(3))
        {
            string file = Path.Combine(data.Path, input.File);
            await File.WriteAllBytesAsync(file, input.Bytes, Ct);
            files.Add(file);
        }
        var (code, stdout, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromMinutes(2), ["smear", "--model", "cells", .. files, "--data-dir", data.Path, "--json"]);
        Assert.True(code == 0, stderr);
        var cli = JsonDocument.Parse(stdout).RootElement;
        for (int i = 0; i < 3; i++)
        {
            var a = images[i].GetProperty("cells");
            var c = cli.GetProperty("images")[i].GetProperty("cells");
            Assert.Equal(a.GetArrayLength(), c.GetArrayLength());
            for (int k = 0; k < a.GetArrayLength(); k++)
            {
                Assert.Equal(a[k].GetProperty("box").EnumerateArray().Select(v => v.GetInt32()), c[k].GetProperty("box").EnumerateArray().Select(v => v.GetInt32()));
                Assert.Equal(a[k].GetProperty("label").GetString(), c[k].GetProperty("label").GetString());
                Assert.Equal(a[k].GetProperty("confidence").GetDouble(), c[k].GetProperty("confidence").GetDouble(), 5);
            }
        }

        // Refusals are problem documents, as for predict.
        using var empty = await http.PostAsync("api/v1/smears", new MultipartFormDataContent { { new StringContent("x"), "note" } }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal("application/problem+json", empty.Content.Headers.ContentType?.MediaType);
        var openApi = await http.GetStringAsync("openapi/v1.json", Ct);
        Assert.Contains("/api/v1/smears", openApi, StringComparison.Ordinal);
        Assert.Contains("ApiSmearResponse", openApi, StringComparison.Ordinal);
    }
}
