using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
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
/// A real portal whose active model is the README's test-vector model (ModelFormatVectorTests: the pretrained ResNet18
/// with seeded noise, 112 x 112, window 0.6, flips, T = 1.5), given a reject threshold, for the outside program
/// (<see cref="OutsideProgram"/>). Nothing is started where the program cannot run (the tests skip and say why).
/// </summary>
public sealed class OutsidePortalFixture : IAsyncLifetime
{
    /// <summary>Between the synthetic images' top probabilities (0.280 to 0.393 measured; 12 of the 20 under it), so both answers, a class and "Unidentified", are compared.</summary>
    public const double RejectThreshold = 0.33;

    private readonly TempDirectory data = new("wbc-outside");

    public string? SkipReason { get; private set; }
    public PortalProcess Portal { get; private set; } = default!;
    public string ModelPath { get; private set; } = "";
    public string ReviewerToken { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        SkipReason = OutsideProgram.Unavailable();
        if (SkipReason is not null) return;
        await using (var services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider())
        {
            await services.MigrateAsync();
            var metadata = ModelFormatVectorTests.VectorMetadata with { RejectThreshold = RejectThreshold, RejectTargetAccuracy = 0.95 };
            // The model ClassifierOnnxExportFixture builds (same seed and head), so the test vectors' windows are its inputs.
            using (var model = ClassifierOnnxExportTests.TrainedLooking(new ResNet18Backbone(PretrainedModelFiles.Default), new HeadSpec([16], 0.3),
                metadata.Labels.Count, seed: 11))
            {
                ModelPath = Path.Combine(data.Path, "models", "vectors.onnx");
                new ClassifierOnnxExporter(PretrainedModelFiles.Default).Export(model, metadata, ModelPath);
            }
            var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
            await using var db = await contexts.CreateDbContextAsync();
            db.Models.Add(new RegisteredModel
            {
                Name = "vectors", OnnxPath = "models/vectors.onnx", Labels = string.Join(",", metadata.Labels),
                InputHeight = metadata.InputHeight, InputWidth = metadata.InputWidth, IsActive = true, CreatedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync();
        }
        ReviewerToken = await PortalProcess.CreateTokenAsync(data.Path, "integrator", PortalRole.Reviewer);
        Portal = await PortalProcess.StartOnAsync(data.Path);
    }

    public async ValueTask DisposeAsync()
    {
        if (Portal is not null) await Portal.DisposeAsync();
        data.Dispose();
    }
}

/// <summary>
/// Issue 26 item 3 and its "Done when": the exported model runs in a second runtime, outside the portal's code
/// (onnxruntime-node from npm, PNGs decoded by pngjs), and gives the portal's probabilities; an outside program with a
/// client generated from the served OpenAPI document (openapi-typescript + openapi-fetch, no hand edits) downloads the
/// active model, classifies 20 images through the API and locally, and both agree.
/// </summary>
[Trait("Category", "Torch")]
public sealed class OutsideProgramTests(OutsidePortalFixture fixture) : IClassFixture<OutsidePortalFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Float rounding: the graph in another build of ONNX Runtime, the portal's softmax in double.</summary>
    private const double Tolerance = 1e-5;

    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task The_test_vectors_windows_in_onnxruntime_node_give_the_portals_probabilities()
    {
        if (fixture.SkipReason is { } reason) Assert.Skip(reason);
        string vectors = Path.Combine(PortalProcess.RepositoryRoot(), "WbcPortal.Tests", "TestData", "ModelFormat");
        var names = Directory.GetFiles(vectors, "*.png").Select(Path.GetFileName).Where(n => !n!.EndsWith(".window.png", StringComparison.Ordinal)).Order().ToList();
        Assert.Equal(4, names.Count);

        // The portal's answer for each image, as the API gives it.
        using var http = fixture.Portal.CreateClientWithToken(fixture.ReviewerToken, TimeSpan.FromSeconds(120));
        using var form = new MultipartFormDataContent();
        foreach (var name in names)
        {
            var part = new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(vectors, name!), Ct));
            part.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(part, "images", name!);
        }
        using var response = await http.PostAsync("api/v1/predict", form, Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, body);
        using var api = JsonDocument.Parse(body);
        var labels = api.RootElement.GetProperty("model").GetProperty("labels").EnumerateArray().Select(l => l.GetString()!).ToArray();
        var portal = api.RootElement.GetProperty("predictions").EnumerateArray().ToDictionary(
            p => p.GetProperty("file").GetString()!, p => labels.Select(l => p.GetProperty("probabilities").GetProperty(l).GetDouble()).ToArray());

        // The same model file, the committed window PNGs, onnxruntime-node.
        string stdout = await OutsideProgram.RunAsync(["vectors.mjs", fixture.ModelPath, .. names.Select(n => Path.Combine(vectors, Path.ChangeExtension(n!, ".window.png")))],
            new Dictionary<string, string>(), NodeTimeout, Ct);
        using var node = JsonDocument.Parse(stdout);
        Assert.Equal(labels, node.RootElement.GetProperty("labels").EnumerateArray().Select(l => l.GetString()!));
        double largest = 0;
        foreach (var window in node.RootElement.GetProperty("windows").EnumerateArray())
        {
            string image = window.GetProperty("file").GetString()!.Replace(".window.png", ".png", StringComparison.Ordinal);
            var probs = window.GetProperty("probs").EnumerateArray().Select(p => p.GetDouble()).ToArray();
            double diff = probs.Zip(portal[image], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff <= Tolerance, $"{image}: onnxruntime-node gives {Format(probs)}, the portal {Format(portal[image])} (largest difference {diff:E2}).");
            largest = Math.Max(largest, diff);
        }
        TestContext.Current.SendDiagnosticMessage("test vectors in {0}: largest probability difference from the portal's {1:E2}",
            node.RootElement.GetProperty("runtime").GetString(), largest);
    }

    [Fact]
    public async Task The_outside_program_with_a_generated_client_and_onnxruntime_node_agrees_with_the_api_on_20_images()
    {
        if (fixture.SkipReason is { } reason) Assert.Skip(reason);
        using var images = new TempDirectory("wbc-outside-images");
        Write20Images(images.Path);
        string program = OutsideProgram.Folder;
        foreach (var stale in new[] { "generated", "dist" }) if (Directory.Exists(Path.Combine(program, stale))) Directory.Delete(Path.Combine(program, stale), recursive: true);

        string url = fixture.Portal.BaseAddress.ToString();
        var environment = new Dictionary<string, string> { ["WBC_TOKEN"] = fixture.ReviewerToken };
        // The client's types from the live document, the program type-checked against them and compiled, then run.
        await OutsideProgram.RunAsync(["generate.mjs", url], environment, NodeTimeout, Ct);
        await OutsideProgram.RunAsync([Path.Combine("node_modules", "typescript", "bin", "tsc"), "-p", "."], environment, NodeTimeout, Ct);
        string stdout = await OutsideProgram.RunAsync([Path.Combine("dist", "src", "outside.js"), url, images.Path], environment, NodeTimeout, Ct);

        using var report = JsonDocument.Parse(stdout);
        var root = report.RootElement;
        // The program ran the portal's own model file: what it downloaded is the stored file, byte for byte.
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(fixture.ModelPath, Ct))), root.GetProperty("model").GetProperty("onnxSha256").GetString());
        var labels = root.GetProperty("model").GetProperty("labels").EnumerateArray().Select(l => l.GetString()!).ToArray();
        Assert.Equal(ClassifierOnnxMetadata.WindowFormat, root.GetProperty("model").GetProperty("cardFormat").GetInt32());
        Assert.Equal(ClassifierOnnxMetadata.WindowFormat, root.GetProperty("model").GetProperty("fileFormat").GetInt32());
        Assert.Equal(OutsidePortalFixture.RejectThreshold, root.GetProperty("model").GetProperty("rejectThreshold").GetDouble());

        var rows = root.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(20, rows.Count);
        int agree = 0, unidentified = 0;
        double largest = 0, lowestTop = 1, highestTop = 0;
        var disagreements = new List<string>();
        foreach (var row in rows)
        {
            string file = row.GetProperty("file").GetString()!;
            var api = row.GetProperty("api");
            Assert.False(api.TryGetProperty("error", out var error), $"{file}: the API answered an error: {error}");
            var local = row.GetProperty("local");
            var a = labels.Select(l => api.GetProperty("probabilities").GetProperty(l).GetDouble()).ToArray();
            var b = labels.Select(l => local.GetProperty("probabilities").GetProperty(l).GetDouble()).ToArray();
            double diff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
            (lowestTop, highestTop) = (Math.Min(lowestTop, a.Max()), Math.Max(highestTop, a.Max()));
            largest = Math.Max(largest, diff);
            string apiLabel = api.GetProperty("label").GetString()!, localLabel = local.GetProperty("label").GetString()!;
            if (apiLabel == localLabel) agree++;
            if (apiLabel == "Unidentified") unidentified++;
            if (apiLabel != localLabel || diff > Tolerance) disagreements.Add($"{file}: API {apiLabel} {Format(a)}, local {localLabel} {Format(b)}, difference {diff:E2}");
        }
        TestContext.Current.SendDiagnosticMessage("outside program, 20 images: labels agree {0}/20 ({1} Unidentified, top probabilities {2:0.000} to {3:0.000}); largest probability difference {4:E2}",
            agree, unidentified, lowestTop, highestTop, largest);
        Assert.True(disagreements.Count == 0, "The outside program and the API differ:\n" + string.Join("\n", disagreements));
        // Both answers were compared: a class and "Unidentified" (the reject rule read from the file's metadata).
        Assert.InRange(unidentified, 1, 19);
    }

    /// <summary>
    /// 20 small synthetic images: smear fields with one white cell at a seeded place and size (PNG and JPEG), two fields
    /// with none (the window falls back to the centre), smear-like discs, and full-size fields the window rule shrinks first.
    /// </summary>
    private static void Write20Images(string folder)
    {
        for (int i = 0; i < 20; i++)
        {
            var random = new Random(1000 + i);
            string name = $"cell-{i:00}";
            switch (i % 5)
            {
                case 0 or 1:
                    using (var field = TestImages.Field(320, 240, i, [(random.Next(60, 580), random.Next(60, 420), random.Next(24, 40))], scale: 0.5))
                    {
                        if (i % 5 == 0) field.SaveAsPng(Path.Combine(folder, name + ".png"));
                        else field.SaveAsJpeg(Path.Combine(folder, name + ".jpg"), new JpegEncoder { Quality = 90 });
                    }
                    break;
                case 2:
                    using (var smear = TestImages.Smear(200, 150, i)) smear.SaveAsPng(Path.Combine(folder, name + ".png"));
                    break;
                case 3:
                    using (var large = TestImages.Field(640, 480, i, i == 8 || i == 18 ? [] : [(random.Next(80, 560), random.Next(80, 400), random.Next(26, 38))]))
                        large.SaveAsPng(Path.Combine(folder, name + ".png"));
                    break;
                default:
                    using (var small = TestImages.Field(160, 120, i, [(random.Next(100, 540), random.Next(100, 380), random.Next(28, 40))], scale: 0.25))
                        small.SaveAsJpeg(Path.Combine(folder, name + ".jpg"), new JpegEncoder { Quality = 85 });
                    break;
            }
        }
    }

    private static string Format(IEnumerable<double> values) => "[" + string.Join(", ", values.Select(v => v.ToString("0.000000", CultureInfo.InvariantCulture))) + "]";
}
