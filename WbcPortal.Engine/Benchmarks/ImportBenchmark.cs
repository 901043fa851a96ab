using System.Diagnostics;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// Import throughput on the real TRAIN set (check, hash, store, thumbnail; all cores) beside the bare
/// decode of the same files on all cores, so the ratio shows what the import adds to decoding.
/// </summary>
public sealed class ImportBenchmark(BenchData data, ImageDecoding decoding) : IBenchmark
{
    public string Name => "import";
    public string Description => "Import of the Kaggle TRAIN set (9,957 JPEGs) vs bare parallel decoding, img/s";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var entries = ImportSources.FromFolder(data.RequireTrainSet(), new ImportLimits());
        progress?.Report($"decoding {entries.Count:N0} images");
        var watch = Stopwatch.StartNew();
        Parallel.ForEach(entries, new ParallelOptions { CancellationToken = cancellationToken }, e =>
        {
            using var s = e.Open();
            using var image = SixLabors.ImageSharp.Image.Load<Rgb24>(decoding.Configuration, s);
        });
        double decode = entries.Count / watch.Elapsed.TotalSeconds;

        var store = Path.Combine(Path.GetTempPath(), $"wbc-bench-import-{Guid.NewGuid():N}");
        try
        {
            progress?.Report($"importing {entries.Count:N0} images into a scratch store");
            watch.Restart();
            var result = new ImageImporter(decoding, new ImportLimits()).Import(entries, new ImageStore(store), new HashSet<string>(), null, cancellationToken);
            double seconds = watch.Elapsed.TotalSeconds;
            return
            [
                new BenchResult("import.decode-only", Math.Round(decode, 1), "img/s", null, null, $"{entries.Count} files, {Environment.ProcessorCount} cores"),
                new BenchResult("import.check-store-thumbnail", Math.Round(entries.Count / seconds, 1), "img/s", Math.Round(decode, 1), "import.decode-only",
                    $"{result.Images.Count} accepted in {seconds:F1} s (database rows not included)"),
            ];
        }
        finally
        {
            if (Directory.Exists(store)) Directory.Delete(store, recursive: true);
        }
    }
}
