using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Detection;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// White-cell detection on whole BCCD smears (640x480 JPEGs in <c>bccd/JPEGImages</c> under the shared data folder):
/// smears/s and ms per smear of detection alone (the JPEGs are decoded before the clock starts), one core,
/// <see cref="WbcDetector"/> beside <see cref="BaselineStainDetector"/> in the same run. <paramref name="maxSmears"/> caps
/// how many smears are decoded (all 367 when null); each detector passes over them <paramref name="rounds"/> times after one warm-up pass.
/// </summary>
public sealed class SmearDetectBenchmark(BenchData data, int? maxSmears = null, int rounds = 3) : IBenchmark
{
    public string Name => "smear-detect";
    public string Description => "White-cell detection on BCCD smears (decoding excluded): smears/s, new detector vs the stain baseline";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        string folder = Path.Combine(data.SharedDataDirectory, "bccd", "JPEGImages");
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"This benchmark needs the BCCD smears at {folder} (set Bench:SharedData).");
        var files = Directory.GetFiles(folder, "*.jpg").OrderBy(f => f, StringComparer.Ordinal).Take(maxSmears ?? int.MaxValue).ToList();
        progress?.Report($"decoding {files.Count} smears");
        var images = new List<Image<Rgb24>>(files.Count);
        try
        {
            foreach (var file in files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                images.Add(Image.Load<Rgb24>(file));
            }
            double Measure(IWbcDetector detector, out int cells)
            {
                cells = 0;
                foreach (var image in images) detector.Detect(image, cancellationToken); // warm-up
                var watch = Stopwatch.StartNew();
                for (int r = 0; r < rounds; r++)
                    foreach (var image in images) cells += detector.Detect(image, cancellationToken).Cells.Count;
                return watch.Elapsed.TotalSeconds / Math.Max(1, rounds);
            }
            progress?.Report("baseline");
            double baseSeconds = Measure(new BaselineStainDetector(), out int baseCells);
            progress?.Report("new detector");
            double newSeconds = Measure(new WbcDetector(), out int newCells);
            int n = images.Count;
            return
            [
                new BenchResult("smear.detect", Math.Round(n / newSeconds, 1), "smears/s", Math.Round(n / baseSeconds, 1), "baseline stain detector",
                    $"{n} smears {images[0].Width}x{images[0].Height}, one thread, decoding excluded, {rounds} rounds"),
                new BenchResult("smear.detect.ms-per-smear", Math.Round(1000 * newSeconds / n, 2), "ms", Math.Round(1000 * baseSeconds / n, 2), "baseline stain detector"),
                new BenchResult("smear.detect.cells", newCells / Math.Max(1, rounds), "cells", baseCells / Math.Max(1, rounds), "baseline stain detector", "cells found over all smears (one round)"),
            ];
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }
}
