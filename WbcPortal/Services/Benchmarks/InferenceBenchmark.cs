using System.Diagnostics;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Endpoints;
using WbcPortal.Extensions;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// Classifying against the bare ONNX Runtime session, in one run, with the <c>default</c> preset's model shape (cell
/// window, input size, flips averaged): <c>inference.single</c> is one client end to end (file bytes → decode → window
/// → tensor → micro-batched session → calibrated probabilities) against the bare session on ready tensors of one image;
/// <c>inference.concurrent</c> is 20 concurrent clients each posting one image to <c>POST /api/v1/predict</c> of a real
/// Kestrel host against the bare session on ready tensors batched 20 at a time, with the one-image call's p50 and p95
/// latency and the errors (0 expected). The data folder is a temporary one; nothing is downloaded.
/// </summary>
public sealed class InferenceBenchmark(ResNet18Backbone backbone, ClassifierOnnxExporter exporter, OnnxSessionFactory sessions, BackboneRegistry backbones, WbcPortal.Engine.Imaging.ImageDecoding decoding) : IBenchmark
{
    private const int Clients = 20, Rounds = 6, SingleImages = 24;

    public string Name => "inference";
    public string Description => "Classify: one client end to end vs the bare session (inference.single); 20 concurrent API clients vs the bare batched session (inference.concurrent)";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) =>
        RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    private async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var config = TrainingPresets.Get("default");
        string[] labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];
        string root = Path.Combine(Path.GetTempPath(), $"wbc-bench-inference-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            string modelPath = Path.Combine(root, "models", "bench.onnx");
            using (var model = new WbcClassifier(backbone.CreateResNet(), config.Head, labels.Length))
            {
                exporter.Export(model, new ClassifierOnnxMetadata(labels, config.InputHeight, config.InputWidth, null, config.Crop, 1.2, config.TestTimeAugmentation, config.Backbone, 0.6, 0.95), modelPath);
            }
            var images = Enumerable.Range(0, Clients).Select(i => Jpeg(i)).ToList();
            int views = config.TestTimeAugmentation ? 4 : 1;

            // Bare session on ready tensors: the preprocessing done beforehand, only session.Run timed.
            progress?.Report("bare session, ready tensors");
            double bareSingle, bareBatched, classifierSingle, decodeRate, prepareRate;
            using (var classifier = OnnxClassifier.Load(modelPath, sessions, backbones))
            using (var session = sessions.Create(modelPath))
            {
                int length = 3 * config.InputHeight * config.InputWidth;
                // A self-contained model takes the windows' bytes (its flips inside); an older export the prepared views.
                NamedOnnxValue Ready(int images, int seed) => classifier.TakesWindow
                    ? NamedOnnxValue.CreateFromTensor(WindowGraph.WindowName, new DenseTensor<byte>(Bytes(images * length, seed), [images, config.InputHeight, config.InputWidth, 3]))
                    : NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, new DenseTensor<float>(Random(images * views * length, seed), [images * views, 3, config.InputHeight, config.InputWidth]));
                var one = Ready(1, 1);
                var many = Ready(Clients, 2);
                void Run(NamedOnnxValue input)
                {
                    using var _ = session.Run([input], [ClassifierOnnxExporter.LogitsName]);
                }
                Run(one);
                var watch = Stopwatch.StartNew();
                for (int i = 0; i < SingleImages; i++) Run(one);
                bareSingle = SingleImages / watch.Elapsed.TotalSeconds;
                Run(many);
                watch.Restart();
                for (int r = 0; r < Rounds; r++) Run(many);
                bareBatched = Rounds * Clients / watch.Elapsed.TotalSeconds;

                // The classifier on decoded images, one at a time: the cell window, normalisation and flips, no decode.
                var decoded = images.Select(b => Image.Load<Rgb24>(b)).ToList();
                classifier.Logits([decoded[0]]);
                watch.Restart();
                for (int i = 0; i < SingleImages; i++) classifier.Logits([decoded[i % decoded.Count]]);
                classifierSingle = SingleImages / watch.Elapsed.TotalSeconds;
                watch.Restart();
                for (int i = 0; i < 4 * SingleImages; i++) classifier.Prepare(decoded[i % decoded.Count]);
                prepareRate = 4 * SingleImages / watch.Elapsed.TotalSeconds;
                foreach (var d in decoded) d.Dispose();
                watch.Restart();
                for (int i = 0; i < SingleImages; i++) decoding.DecodeRgb(images[i % images.Count]).Dispose();
                decodeRate = SingleImages / watch.Elapsed.TotalSeconds;
            }

            progress?.Report("portal API host");
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Storage:DataDirectory"] = root,
                ["Inference:MaxImagesPerRequest"] = "64",
                ["Inference:MicroBatchWindowMs"] = Environment.GetEnvironmentVariable("WBC_BENCH_WINDOW") ?? "0",
            });
            builder.Logging.ClearProviders();
            builder.Services.AddWbcCore();
            builder.Services.AddProblemDetails();
            builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            await using var app = builder.Build();
            app.MapApiV1();
            await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync();
            await using (var db = await app.Services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(cancellationToken))
            {
                db.Models.Add(new RegisteredModel { Name = "bench", OnnxPath = "models/bench.onnx", Labels = string.Join(",", labels), InputHeight = config.InputHeight, InputWidth = config.InputWidth, IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
                await db.SaveChangesAsync(cancellationToken);
            }
            await app.StartAsync(cancellationToken);
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(2) };

            // End to end in process, one client: bytes → answer through the same service the API calls.
            progress?.Report("one client, end to end");
            var predictions = app.Services.GetRequiredService<Classify.PredictionService>();
            var choice = (await predictions.ActiveAsync(cancellationToken))!;
            await predictions.PredictAsync(choice, [new Classify.PredictionInput("warm", images[0])], null, cancellationToken);
            var single = Stopwatch.StartNew();
            for (int i = 0; i < SingleImages; i++)
                await predictions.PredictAsync(choice, [new Classify.PredictionInput("x", images[i % images.Count])], null, cancellationToken);
            double endToEnd = SingleImages / single.Elapsed.TotalSeconds;

            // The served model alone on decoded images (lease → prepare → micro-batcher → probabilities): the serving's share.
            double served;
            using (var lease = await app.Services.GetRequiredService<Classify.ModelServing>().AcquireAsync(choice.Path, cancellationToken))
            {
                var decoded = images.Select(b => Image.Load<Rgb24>(b)).ToList();
                await lease.PredictAsync(decoded[0], cancellationToken);
                var watch = Stopwatch.StartNew();
                for (int i = 0; i < SingleImages; i++) await lease.PredictAsync(decoded[i % decoded.Count], cancellationToken);
                served = SingleImages / watch.Elapsed.TotalSeconds;
                foreach (var d in decoded) d.Dispose();
            }

            // The same 20 clients in process (no HTTP): what the API's transport costs beside the serving.
            await Task.WhenAll(images.Select(b => predictions.PredictAsync(choice, [new Classify.PredictionInput("x", b)], null, cancellationToken)));
            var inProcess = Stopwatch.StartNew();
            for (int r = 0; r < Rounds; r++)
                await Task.WhenAll(images.Select(b => predictions.PredictAsync(choice, [new Classify.PredictionInput("x", b)], null, cancellationToken)));
            double inProcessRate = Rounds * Clients / inProcess.Elapsed.TotalSeconds;

            progress?.Report($"{Clients} concurrent API clients");
            int errors = 0;
            var latencies = new List<double>();
            async Task<double> Call(byte[] image)
            {
                using var form = new MultipartFormDataContent();
                var part = new ByteArrayContent(image);
                part.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
                form.Add(part, "images", "cell.jpg");
                var watch = Stopwatch.StartNew();
                using var response = await http.PostAsync("api/v1/predict", form, cancellationToken);
                string body = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode || body.Contains("\"error\"", StringComparison.Ordinal)) Interlocked.Increment(ref errors);
                return watch.Elapsed.TotalMilliseconds;
            }
            await Call(images[0]);
            var concurrent = Stopwatch.StartNew();
            for (int r = 0; r < Rounds; r++)
            {
                var round = await Task.WhenAll(images.Select(Call));
                latencies.AddRange(round);
            }
            double throughput = Rounds * Clients / concurrent.Elapsed.TotalSeconds;
            
            latencies.Sort();
            double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(q * latencies.Count) - 1)];
            await app.StopAsync(cancellationToken);

            string shape = $"{config.InputWidth}x{config.InputHeight}, cell window, {(views == 4 ? "flips averaged (4 views)" : "1 view")}";
            
            return
            [
                new("inference.bare.b1", Math.Round(bareSingle, 1), "img/s", null, null, $"session.Run on a ready tensor of one image; {shape}; {string.Join("+", sessions.UsableProviders)}"),
                new("inference.classifier.b1", Math.Round(classifierSingle, 1), "img/s", Math.Round(bareSingle, 1), "inference.bare.b1", "OnnxClassifier.Logits on a decoded image: cell window, normalisation, flips, run"),
                new("inference.prepare", Math.Round(prepareRate, 1), "img/s", null, null, "OnnxClassifier.Prepare alone: locate the cell, sample the window, normalise it and its flips"),
                new("inference.decode", Math.Round(decodeRate, 1), "img/s", null, null, "the hardened decoder on a 320x240 JPEG"),
                new("inference.served.b1", Math.Round(served, 1), "img/s", Math.Round(bareSingle, 1), "inference.bare.b1", "the served model on a decoded image, one client: prepare → micro-batcher → calibrated probabilities"),
                new("inference.single", Math.Round(endToEnd, 1), "img/s", Math.Round(bareSingle, 1), "inference.bare.b1", "one client: JPEG bytes → decode → window → micro-batcher → calibrated probabilities (target ratio 0.85)"),
                new("inference.bare.b20", Math.Round(bareBatched, 1), "img/s", null, null, $"session.Run on ready tensors, {Clients} images a run"),
                new("inference.concurrent.in-process", Math.Round(inProcessRate, 1), "img/s", Math.Round(bareBatched, 1), "inference.bare.b20", $"{Clients} concurrent callers of the prediction service in process (decode, prepare, micro-batcher; no HTTP)"),
                new("inference.concurrent", Math.Round(throughput, 1), "img/s", Math.Round(bareBatched, 1), "inference.bare.b20",
                    FormattableString.Invariant($"{Clients} concurrent clients, one image per POST /api/v1/predict, {Rounds} rounds: p50 {P(0.5):0} ms, p95 {P(0.95):0} ms, {errors} errors (target ratio 0.8)")),
            ];
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static float[] Random(int length, int seed)
    {
        var rng = new Random(seed);
        var data = new float[length];
        for (int i = 0; i < length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    private static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>A 320x240 JPEG like the dataset's: pinkish background, a purple nucleus, varied per seed.</summary>
    private static byte[] Jpeg(int seed)
    {
        var rng = new Random(seed);
        using var image = new Image<Rgb24>(320, 240);
        int cx = 120 + rng.Next(80), cy = 90 + rng.Next(60), r = 30 + rng.Next(15);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    bool nucleus = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
                    row[x] = nucleus ? new Rgb24((byte)(90 + rng.Next(30)), (byte)(40 + rng.Next(20)), (byte)(140 + rng.Next(30))) : new Rgb24((byte)(225 + rng.Next(20)), (byte)(190 + rng.Next(20)), (byte)(200 + rng.Next(20)));
                }
            }
        });
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream);
        return stream.ToArray();
    }
}
