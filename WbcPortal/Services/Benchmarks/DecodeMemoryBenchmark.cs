using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// <c>bench --only decode-memory</c>: the peak resident set of this process (VmHWM, reset before each case) for the
/// hostile cases of issue 24, run through the portal's own services: one predict request with 16 progressive 40 MP JPEGs,
/// six such requests at once, a Classify batch of a hostile zip and two bombs, and an evaluation upload whose zip holds
/// one 1 GiB entry. Each decode case runs with the process's decode budget (Imaging:DecodeBudgetMegabytes) and, as the
/// baseline, with an unbounded budget (the behaviour before it: every decode at once, each bounded only by itself).
/// </summary>
public sealed class DecodeMemoryBenchmark(ResNet18Backbone backbone, ClassifierOnnxExporter exporter, IDbContextFactory<WbcDbContext> contexts, ModelServing serving,
    ImageDecoding decoding, ClassifyUploads uploads, EvaluationZipUnpacker unpacker, Accounts.AccessControl access, DatabaseChanges changes) : IBenchmark
{
    private const double MB = 1024 * 1024;

    public string Name => "decode-memory";
    public string Description => "Peak RSS of hostile decodes (16 x 40 MP in one request, six at once, a hostile Classify batch, a 1 GiB zip entry for evaluation): the process decode budget vs none";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) =>
        RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    private async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (!File.Exists("/proc/self/clear_refs")) throw new PlatformNotSupportedException("decode-memory reads and resets the peak resident set through /proc (Linux only).");
        string root = Path.Combine(Path.GetTempPath(), $"wbc-bench-memory-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            var config = TrainingPresets.Get("default");
            string[] labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];
            string modelPath = Path.Combine(root, "bench.onnx");
            using (var model = new WbcClassifier(backbone.CreateResNet(), config.Head, labels.Length))
            {
                exporter.Export(model, new ClassifierOnnxMetadata(labels, config.InputHeight, config.InputWidth, null, config.Crop, 1.2, config.TestTimeAugmentation, config.Backbone, 0.6, 0.95), modelPath);
            }
            var choice = new ModelChoice("bench", modelPath, null, null);
            var bomb = HostileInputs.ProgressiveJpeg(7296, 5472);
            var bounded = new PredictionService(contexts, serving, decoding, access, changes);
            var unbounded = new PredictionService(contexts, serving, new ImageDecoding(decoding.Limits, new DecodeBudget(long.MaxValue / 4, decoding.Budget.RequestWait)), access, changes);
            // Warm the model's session so its memory is in the baseline of every case.
            await bounded.PredictAsync(choice, [new PredictionInput("warm.jpg", HostileInputs.ProgressiveJpeg(320, 240))], null, cancellationToken);

            var hostileZip = HostileZip(root, bomb);
            var cases = new (string Name, Func<PredictionService, DecodeWait, Task> Run)[]
            {
                ("predict 16 x 40 MP in one request", (p, w) => p.PredictAsync(choice, [.. Enumerable.Range(0, 16).Select(i => new PredictionInput($"b{i}.jpg", bomb))], null, cancellationToken, w)),
                ("predict 6 requests of one 40 MP", (p, w) => Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
                    // Each on a thread of its own, as six HTTP requests arrive (a lone image is decoded on its caller's thread).
                    Task.Run(() => p.PredictAsync(choice, [new PredictionInput($"b{i}.jpg", bomb)], null, cancellationToken, w), cancellationToken)))),
                ("classify hostile zip + 2 bombs", async (p, w) =>
                {
                    var collector = uploads.NewCollector();
                    await uploads.AddAsync(collector, "hostile.zip", new MemoryStream(hostileZip), cancellationToken);
                    await uploads.AddAsync(collector, "bomb1.jpg", new MemoryStream(bomb), cancellationToken);
                    await uploads.AddAsync(collector, "bomb2.jpg", new MemoryStream(bomb), cancellationToken);
                    await p.PredictAsync(choice, collector.Inputs, null, cancellationToken, DecodeWait.UntilFree);
                }),
            };

            var results = new List<BenchResult>();
            // With the budget first, then without: memory a case leaves behind can only raise the later (baseline) figures.
            var after = new List<(long Start, long Peak, double Seconds)>();
            foreach (var (name, run) in cases)
            {
                progress?.Report($"{name}, with the decode budget");
                after.Add(await MeasureAsync(() => run(bounded, DecodeWait.Bounded)));
            }
            progress?.Report("evaluation zip with one 1 GiB entry");
            string zipPath = Path.Combine(root, "one-gib-entry.zip");
            HostileInputs.LargeEntryZip(zipPath, "EOSINOPHIL/huge.jpg", 1L << 30, ("EOSINOPHIL/cell.jpg", HostileInputs.ProgressiveJpeg(320, 240)));
            IReadOnlyList<(string File, string Reason)> refused = [];
            var evaluation = await MeasureAsync(() =>
            {
                refused = unpacker.Unpack("one-gib-entry.zip", zipPath, Path.Combine(root, "unpacked"), cancellationToken);
                return Task.CompletedTask;
            });
            long written = Directory.EnumerateFiles(Path.Combine(root, "unpacked"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

            for (int i = 0; i < cases.Length; i++)
            {
                progress?.Report($"{cases[i].Name}, without a budget");
                var before = await MeasureAsync(() => cases[i].Run(unbounded, DecodeWait.UntilFree));
                results.Add(new BenchResult($"memory.{Slug(cases[i].Name)}", after[i].Peak / MB, "MB", before.Peak / MB, "no decode budget",
                    $"peak RSS; from {after[i].Start / MB:N0} MB, {after[i].Seconds:N1} s (without: from {before.Start / MB:N0} MB, {before.Seconds:N1} s); budget {decoding.Budget.CapacityBytes / MB:N0} MB"));
            }
            results.Add(new BenchResult("memory.evaluation-zip-1gib-entry", evaluation.Peak / MB, "MB", null, null,
                $"peak RSS from {evaluation.Start / MB:N0} MB; {written / MB:N1} MB written; {string.Join("; ", refused.Select(r => $"{r.File}: {r.Reason}"))} (before: 1,055 MB written, +2.6 GB, issue 24)"));
            return results;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string Slug(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-')).Replace("--", "-").Trim('-');

    /// <summary>A zip for a Classify batch: two 40 MP bombs, a ratio bomb, a zip inside, a link and a path out of the archive.</summary>
    private static byte[] HostileZip(string root, byte[] bomb)
    {
        string path = Path.Combine(root, "hostile.zip");
        HostileInputs.LargeEntryZip(path, "EOSINOPHIL/large.jpg", 64L << 20, ("a/bomb1.jpg", bomb), ("a/bomb2.jpg", bomb), ("../../evil.jpg", bomb), ("a/inner.zip", new byte[1024]));
        return File.ReadAllBytes(path);
    }

    /// <summary>Runs <paramref name="work"/> after giving memory back and resetting the peak; the resident set at the start, the peak, the seconds.</summary>
    private static async Task<(long Start, long Peak, double Seconds)> MeasureAsync(Func<Task> work)
    {
        WbcPortal.Engine.Compute.ProcessMemory.Release();
        File.WriteAllText("/proc/self/clear_refs", "5");
        long start = WbcPortal.Engine.Compute.ProcessMemory.ResidentBytes();
        var watch = Stopwatch.StartNew();
        await work();
        return (start, WbcPortal.Engine.Compute.ProcessMemory.PeakBytes() ?? 0, watch.Elapsed.TotalSeconds);
    }
}
