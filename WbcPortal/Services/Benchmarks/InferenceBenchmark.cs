using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Endpoints;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// Serving against the bare ONNX Runtime session, side by side in one run, with the <c>default</c> preset's model shape (cell
/// window, input size, flips in the graph), on the real portal (<see cref="BenchPortal"/>: <see cref="PortalHost"/>'s
/// pipeline with sign-in, an API token, rate limits and logging; only the API rate limit raised, through configuration).
/// <list type="bullet">
/// <item><c>inference.single</c>: one HTTP client posting one JPEG at a time to <c>POST /api/v1/predict</c> and reading its
/// probabilities, against <c>session.Run</c> on a ready tensor of one image.</item>
/// <item><c>inference.concurrent</c>: 20 HTTP clients, each posting its next JPEG as soon as its answer comes, against
/// <c>session.Run</c> on ready tensors of 20 images at a time.</item>
/// </list>
/// The two sides alternate in <see cref="Rounds"/> short rounds, which side first alternating too (this shared VM drifts):
/// each figure is its images over its seconds in all rounds, and the note gives each round's ratio (median, range, all). Then the profile: where one client's request spends its time, stage by stage,
/// each stage timed alone on the same portal (medians in ms). The data folder is a temporary one; nothing is downloaded.
/// </summary>
public sealed class InferenceBenchmark(ResNet18Backbone backbone, ClassifierOnnxExporter exporter) : IBenchmark
{
    private const int Clients = 20, Rounds = 12, SinglePerRound = 12, ConcurrentPerClient = 2, ProfileSamples = 60, ProfileTurn = 6;

    public string Name => "inference";
    public string Description => "Serving: one API client (inference.single) and 20 concurrent API clients (inference.concurrent) of the real portal vs the bare session, rounds alternated; then where a request's time goes";

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
            string exported = Path.Combine(root, "bench.onnx");
            using (var model = new WbcClassifier(backbone.CreateResNet(), config.Head, labels.Length))
            {
                exporter.Export(model, new ClassifierOnnxMetadata(labels, config.InputHeight, config.InputWidth, null, config.Crop, 1.2, config.TestTimeAugmentation, config.Backbone, 0.6, 0.95), exported);
            }
            var images = Enumerable.Range(0, Clients).Select(Jpeg).ToList();

            progress?.Report("the portal (PortalHost), a model imported and active, a Reviewer's API token");
            await using var portal = await BenchPortal.StartAsync(Path.Combine(root, "data"), exported, new Dictionary<string, string>
            {
                // The bench sends thousands of requests a minute from one address; the limit is a setting like any other.
                ["Security:ApiRequestsPerMinute"] = "1000000",
                ["Security:ApiBurst"] = "1000000",
            }, cancellationToken);
            var services = portal.Services;
            var sessions = services.GetRequiredService<OnnxSessionFactory>();
            using var http = portal.Client();

            // The bare session: the same model file and session settings, the input made beforehand, only session.Run timed.
            using var classifier = OnnxClassifier.Load(exported, sessions, services.GetRequiredService<BackboneRegistry>());
            using var session = sessions.Create(exported);
            var one = Ready(classifier, config, 1, 1);
            var many = Ready(classifier, config, Clients, 2);
            void Run(NamedOnnxValue input)
            {
                using var _ = session.Run([input], [ClassifierOnnxExporter.LogitsName]);
            }

            // Warm every path (kernel selection, the served model's load, connections, JIT) before anything is timed.
            progress?.Report("warming up");
            for (int i = 0; i < 5; i++) { Run(one); Run(many); }
            for (int i = 0; i < 10; i++) await PredictOverHttpAsync(http, images[i % images.Count], cancellationToken);
            await ConcurrentAsync(http, images, 1, cancellationToken);

            var predictions = services.GetRequiredService<PredictionService>();
            var active = (await predictions.ActiveAsync(cancellationToken))!;
            var reviewer = new Actor(ActorKind.Token, $"{BenchPortal.ClientUser} (token 'bench')", PortalRole.Reviewer, BenchPortal.ClientUser, "127.0.0.1");
            using var asClient = services.GetRequiredService<ActorContext>().Use(reviewer);

            // One client: the bare session, the prediction service in process (no HTTP) and the API, SinglePerRound images
            // each a round, in an order that turns every round so that a drift favours none.
            var singleSides = new Side[] { new("bare"), new("in-process"), new("http") };
            Func<int, Task>[] singleRuns =
            [
                _ => { Run(one); return Task.CompletedTask; },
                i => predictions.PredictAsync(active, [new PredictionInput("cell.jpg", images[i % images.Count])], null, cancellationToken, DecodeWait.Bounded),
                i => PredictOverHttpAsync(http, images[i % images.Count], cancellationToken),
            ];
            // Twenty clients: the bare session on 20 images a run, and 20 API clients.
            var bareBatched = new Side("bare b20");
            var concurrent = new Side("http x20");
            var latencies = new List<double>();
            long batches = 0, batchedImages = 0;
            int errors = 0;
            for (int round = 0; round < Rounds; round++)
            {
                progress?.Report($"round {round + 1} of {Rounds}: one client (bare, in process, API), then {Clients} (bare batches, API clients)");
                for (int k = 0; k < singleSides.Length; k++)
                {
                    int side = (k + round) % singleSides.Length;
                    await singleSides[side].TimeAsync(SinglePerRound, async () =>
                    {
                        for (int i = 0; i < SinglePerRound; i++) await singleRuns[side](round * SinglePerRound + i);
                    });
                }
                for (int k = 0; k < 2; k++)
                {
                    if ((k + round) % 2 == 0)
                    {
                        await bareBatched.TimeAsync(ConcurrentPerClient * Clients, () =>
                        {
                            for (int i = 0; i < ConcurrentPerClient; i++) Run(many);
                            return Task.CompletedTask;
                        });
                        continue;
                    }
                    var before = await BatchCountsAsync(services, active, cancellationToken);
                    await concurrent.TimeAsync(ConcurrentPerClient * Clients, async () =>
                    {
                        var (roundLatencies, roundErrors) = await ConcurrentAsync(http, images, ConcurrentPerClient, cancellationToken);
                        latencies.AddRange(roundLatencies);
                        errors += roundErrors;
                    });
                    var after = await BatchCountsAsync(services, active, cancellationToken);
                    batches += after.Batches - before.Batches;
                    batchedImages += after.Images - before.Images;
                }
            }

            progress?.Report("profile: each stage of one client's request, alone");
            var (bare, inProcess, overHttp) = (singleSides[0], singleSides[1], singleSides[2]);
            var profile = await ProfileAsync(portal, http, images, bare, overHttp, cancellationToken);

            latencies.Sort();
            double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(q * latencies.Count) - 1)];
            string shape = $"{config.InputWidth}x{config.InputHeight} window, {(classifier.TestTimeAugmentation ? "4 flip views" : "1 view")} in the graph";
            string Cpu(Side side) => FormattableString.Invariant($"{side.CpuMsPerImage:0.0} CPU ms/img");
            var results = new List<BenchResult>
            {
                new("inference.bare.b1", Math.Round(bare.Rate, 1), "img/s", null, null,
                    $"session.Run on a ready tensor of one image ({Cpu(bare)}); {shape}; {string.Join("+", sessions.UsableProviders)}, {BenchMachine.Cpu()}"),
                new("inference.single.in-process", Math.Round(inProcess.Rate, 1), "img/s", Math.Round(bare.Rate, 1), "inference.bare.b1",
                    $"one caller of the prediction service in process, JPEG bytes → probabilities, no HTTP ({Cpu(inProcess)}); round ratios {inProcess.RatiosTo(bare)}"),
                new("inference.single", Math.Round(overHttp.Rate, 1), "img/s", Math.Round(bare.Rate, 1), "inference.bare.b1",
                    $"one API client: JPEG → POST /api/v1/predict (token, the portal's pipeline) → probabilities parsed ({Cpu(overHttp)}); {Rounds} rounds of {SinglePerRound}, round ratios {overHttp.RatiosTo(bare)} (target 0.85)"),
                new("inference.bare.b20", Math.Round(bareBatched.Rate, 1), "img/s", null, null, $"session.Run on ready tensors, {Clients} images a run ({Cpu(bareBatched)})"),
                new("inference.concurrent", Math.Round(concurrent.Rate, 1), "img/s", Math.Round(bareBatched.Rate, 1), "inference.bare.b20",
                    FormattableString.Invariant($"{Clients} API clients, each posting its next image when answered ({Cpu(concurrent)}); {Rounds} rounds of {ConcurrentPerClient * Clients}, round ratios {concurrent.RatiosTo(bareBatched)}; p50 {P(0.5):0} ms, p95 {P(0.95):0} ms, {errors} errors, mean batch {(batches == 0 ? 0 : (double)batchedImages / batches):0.0} (target 0.8)")),
            };
            results.AddRange(profile);
            return results;
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>One side of a comparison: the wall-clock seconds and this process's CPU seconds of each round, for the same images.</summary>
    private sealed class Side(string name)
    {
        private readonly List<double> seconds = [], cpu = [];
        private int images;

        public string Name => name;

        public async Task TimeAsync(int count, Func<Task> work)
        {
            var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            long start = Stopwatch.GetTimestamp();
            await work();
            seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            cpu.Add((System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
            images += count;
        }

        /// <summary>Images a second over all rounds.</summary>
        public double Rate => images / seconds.Sum();

        /// <summary>The process's CPU time per image (every thread: client, server, the session's threads).</summary>
        public double CpuMsPerImage => 1000 * cpu.Sum() / images;

        /// <summary>Each round's ratio to <paramref name="baseline"/> (its seconds over this side's, same images), with their median and range.</summary>
        public string RatiosTo(Side baseline)
        {
            var ratios = seconds.Select((s, i) => baseline.seconds[i] / s).ToList();
            return FormattableString.Invariant($"median {Median(ratios):0.00}, range {ratios.Min():0.00}-{ratios.Max():0.00}: ") +
                string.Join(" ", ratios.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>The session's input for <paramref name="images"/> random images, made beforehand: window bytes for a self-contained model, else its float views.</summary>
    private static NamedOnnxValue Ready(OnnxClassifier classifier, TrainingConfig config, int images, int seed)
    {
        int length = 3 * config.InputHeight * config.InputWidth, views = classifier.TestTimeAugmentation ? 4 : 1;
        return classifier.TakesWindow
            ? NamedOnnxValue.CreateFromTensor(WindowGraph.WindowName, new DenseTensor<byte>(Bytes(images * length, seed), [images, config.InputHeight, config.InputWidth, 3]))
            : NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, new DenseTensor<float>(Random(images * views * length, seed), [images * views, 3, config.InputHeight, config.InputWidth]));
    }

    /// <summary>One image through the API as a client does it: the multipart POST, the answer's probabilities read. Throws on any refusal.</summary>
    private static async Task<double[]> PredictOverHttpAsync(HttpClient http, byte[] image, CancellationToken cancellationToken)
    {
        using var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(image);
        part.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
        form.Add(part, ApiV1Endpoints.ImagesField, "cell.jpg");
        using var response = await http.PostAsync("api/v1/predict", form, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var answer = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST /api/v1/predict answered {(int)response.StatusCode}: {answer.RootElement.GetRawText()}");
        var item = answer.RootElement.GetProperty("predictions")[0];
        if (!item.TryGetProperty("probabilities", out var probabilities))
            throw new InvalidOperationException($"POST /api/v1/predict gave no probabilities: {item.GetRawText()}");
        return probabilities.EnumerateObject().Select(p => p.Value.GetDouble()).ToArray();
    }

    /// <summary><see cref="Clients"/> clients, each posting <paramref name="perClient"/> images one after another: each call's latency, errors.</summary>
    private static async Task<(List<double> Latencies, int Errors)> ConcurrentAsync(HttpClient http, List<byte[]> images, int perClient, CancellationToken cancellationToken)
    {
        int errors = 0;
        var latencies = new List<double>();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async client =>
        {
            for (int i = 0; i < perClient; i++)
            {
                var call = Stopwatch.StartNew();
                try
                {
                    await PredictOverHttpAsync(http, images[(client + i) % images.Count], cancellationToken);
                }
                catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or JsonException or KeyNotFoundException)
                {
                    Interlocked.Increment(ref errors);
                }
                lock (latencies) latencies.Add(call.Elapsed.TotalMilliseconds);
            }
        }));
        return (latencies, errors);
    }

    /// <summary>The served model's batched runs so far and the images they held.</summary>
    private static async Task<(long Batches, long Images)> BatchCountsAsync(IServiceProvider services, ModelChoice model, CancellationToken cancellationToken)
    {
        using var lease = await services.GetRequiredService<ModelServing>().AcquireAsync(model.Path, cancellationToken);
        return lease.Model.BatchCounts;
    }

    /// <summary>
    /// Where one client's request goes beyond the session's run. The stages that run on one thread are timed alone on the
    /// same portal with the same images, taking turns a few samples at a time (median ms): decode, window, the token's
    /// validation, the active model's lookup, the JSON both ways, an anonymous request refused at sign-in (the transport
    /// and middleware floor). The whole is the process's CPU per image of the rounds above, one API client against the
    /// bare session: wall-clock differences of a session run that swings with the machine's load would drown the small
    /// stages, CPU time much less. What no stage names (the rest) is the transport both ways, Kestrel, the multipart
    /// reading, the middleware, the micro-batcher, the calibrated probabilities, the client.
    /// </summary>
    private static async Task<List<BenchResult>> ProfileAsync(BenchPortal portal, HttpClient http, List<byte[]> images, Side bare, Side overHttp, CancellationToken cancellationToken)
    {
        var services = portal.Services;
        var predictions = services.GetRequiredService<PredictionService>();
        var serving = services.GetRequiredService<ModelServing>();
        var decoding = services.GetRequiredService<ImageDecoding>();
        var tokens = services.GetRequiredService<ApiTokens>();
        var json = services.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        using var anonymous = new HttpClient { BaseAddress = portal.Address };
        var choice = (await predictions.ActiveAsync(cancellationToken))!;
        using var lease = await serving.AcquireAsync(choice.Path, cancellationToken);
        var classifier = lease.Model.Classifier;
        var decoded = images.Select(b => Image.Load<Rgb24>(b)).ToList();
        var answer = ApiV1Endpoints.ToResponse(await predictions.PredictAsync(choice, [new PredictionInput("cell.jpg", images[0])], null, cancellationToken));
        var stages = new (string Name, Func<int, Task> Run)[]
        {
            ("decode", async i => (await decoding.DecodeRgbAsync(images[i % images.Count], DecodeWait.Bounded, cancellationToken)).Dispose()),
            ("window", i => { classifier.Prepare(decoded[i % decoded.Count]); return Task.CompletedTask; }),
            ("token", _ => tokens.AuthenticateAsync(portal.Token, "127.0.0.1", cancellationToken)),
            ("active-model", _ => predictions.ActiveAsync(cancellationToken)),
            ("json", _ =>
            {
                byte[] utf8 = JsonSerializer.SerializeToUtf8Bytes(answer, json);
                using var parsed = JsonDocument.Parse(utf8);
                return Task.CompletedTask;
            }),
            ("http-floor", async _ =>
            {
                using var response = await anonymous.PostAsync("api/v1/predict", new ByteArrayContent([]), cancellationToken);
                await response.Content.ReadAsByteArrayAsync(cancellationToken);
            }),
        };
        var samples = stages.ToDictionary(s => s.Name, _ => new List<double>());
        try
        {
            foreach (var stage in stages) for (int i = 0; i < 5; i++) await stage.Run(i);
            for (int round = 0; round < ProfileSamples / ProfileTurn; round++)
            {
                foreach (var stage in stages)
                {
                    for (int i = 0; i < ProfileTurn; i++)
                    {
                        long start = Stopwatch.GetTimestamp();
                        await stage.Run(round * ProfileTurn + i);
                        samples[stage.Name].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                }
            }
        }
        finally
        {
            foreach (var image in decoded) image.Dispose();
        }
        double Ms(string name) => Median(samples[name]);
        double request = overHttp.CpuMsPerImage, run = bare.CpuMsPerImage;
        double named = Ms("decode") + Ms("window") + Ms("token") + Ms("active-model") + Ms("json");
        BenchResult Stage(string name, double ms, string note) =>
            new($"inference.profile.{name}", Math.Round(ms, 2), "ms", Math.Round(request, 2), "inference.profile.request", note);
        return
        [
            Stage("request", request, "one API client's request of one JPEG, answer parsed: this process's CPU per image in the rounds above (every thread); each line below is its share"),
            Stage("session-run", run, "the bare session's run of one image: CPU per image in the same rounds"),
            Stage("decode", Ms("decode"), "the hardened decoder: header checks, decode-budget reservation, 320x240 JPEG to RGB (median wall ms, one thread)"),
            Stage("window", Ms("window"), "OnnxClassifier.Prepare: the cell located, its window sampled to the input size"),
            Stage("token", Ms("token"), "ApiTokens.AuthenticateAsync: the presented token validated"),
            Stage("active-model", Ms("active-model"), "PredictionService.ActiveAsync: which model is active"),
            Stage("json", Ms("json"), "the answer serialised as the API does and parsed as a client does"),
            Stage("rest", request - run - named, "the rest: transport both ways, Kestrel, multipart reading, middleware (host filter, headers, routing, CORS, rate limiter, authorisation, logging), micro-batcher, probabilities, the client"),
            Stage("http-floor", Ms("http-floor"), "for scale: an anonymous POST refused at sign-in (401 problem), wall ms: the transport and middleware floor"),
        ];
    }

    private static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
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
