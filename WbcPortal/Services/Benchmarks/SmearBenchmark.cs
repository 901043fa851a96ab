using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Engine.Detection;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Inference.Serving;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Smears;
using WbcPortal.Engine.Training;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// Reading whole smears with the <c>default</c> preset's model shape (its weights do not change the cost): <c>smear.end-to-end</c>
/// is JPEG bytes to classified cells (decode, detect, every cell's window through the micro-batched session), one smear after
/// another, in smears/s and ms per smear (target: under 500 ms for a 640x480 smear); beside it, the single-cell classifier's rate on
/// the same cells (their windows through the same served model, no decode and no detection), in cells/s against cells/s.
/// </summary>
public sealed class SmearBenchmark(ResNet18Backbone backbone, ClassifierOnnxExporter exporter, OnnxSessionFactory sessions, BackboneRegistry backbones,
    ImageDecoding decoding, BenchData data) : IBenchmark
{
    private const int Smears = 40;

    public string Name => "smear";
    public string Description => "Smears: JPEG to classified cells end to end (smear.end-to-end) beside the single-cell classifier on the same cells";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) => RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    private async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        string folder = Path.Combine(data.SharedDataDirectory, "bccd", "JPEGImages");
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"This benchmark needs the BCCD smears at {folder} (set Bench:SharedData).");
        var files = Directory.GetFiles(folder, "*.jpg").Order(StringComparer.Ordinal).Take(Smears).ToList();
        var bytes = files.Select(File.ReadAllBytes).ToList();
        var config = TrainingPresets.Get("default");
        string[] labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];
        string path = Path.Combine(Path.GetTempPath(), $"wbc-bench-smear-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var model = new WbcClassifier(backbone.CreateResNet(), config.Head, labels.Length))
                exporter.Export(model, new ClassifierOnnxMetadata(labels, config.InputHeight, config.InputWidth, null, config.Crop, 1.2, config.TestTimeAugmentation, config.Backbone, 0.6, 0.95), path);
            var served = ServedModel.Load("bench", OnnxClassifier.Load(path, sessions, backbones));
            var detector = new WbcDetector();
            using var lease = served.TryAcquire()!;

            progress?.Report($"end to end, {files.Count} smears");
            (await ReadAsync(bytes[0])).Item1.Dispose(); // warm-up
            int cells = 0;
            var watch = Stopwatch.StartNew();
            var found = new List<(Image<Rgb24> Image, SmearAnalysis Analysis)>();
            foreach (var b in bytes)
            {
                var (image, analysis) = await ReadAsync(b);
                cells += analysis.Cells.Count;
                found.Add((image, analysis));
            }
            double endToEnd = watch.Elapsed.TotalSeconds;

            progress?.Report($"single-cell classifier, the same {cells} cells");
            watch.Restart();
            foreach (var (image, analysis) in found)
                await Task.WhenAll(analysis.Cells.Select(c => lease.PredictAtAsync(image, c.CenterX, c.CenterY, analysis.ViewHeight, cancellationToken)));
            double single = watch.Elapsed.TotalSeconds;
            foreach (var (image, _) in found) image.Dispose();
            served.Retire();

            int n = files.Count;
            return
            [
                new BenchResult("smear.end-to-end", Math.Round(n / endToEnd, 2), "smears/s", null, null,
                    $"{n} BCCD smears 640x480, {cells} cells; {1000 * endToEnd / n:0} ms a smear (target < 500)"),
                new BenchResult("smear.end-to-end.cells", Math.Round(cells / endToEnd, 1), "cells/s", Math.Round(cells / single, 1), "single-cell classifier on the same cells",
                    "decode + detect + classify vs classify alone"),
            ];

            async Task<(Image<Rgb24>, SmearAnalysis)> ReadAsync(byte[] jpeg)
            {
                var image = decoding.DecodeRgb(jpeg, cancellationToken);
                return (image, await SmearAnalyzer.AnalyzeAsync(image, detector, lease, cancellationToken));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
