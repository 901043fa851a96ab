using Microsoft.Extensions.Configuration;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Training;
using WbcPortal.Extensions;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Splits;
using WbcPortal.Services.Training;
using WbcPortal.Storage;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// <c>bench --only idle-memory</c>: one process trains five small runs one after another through the portal's own run
/// service (as its job worker does), in a data folder of its own, and reads its resident set: at the start, after each run
/// (as the run service leaves it: it gives memory back when a run ends) beside the run's peak, and what a run folder
/// keeps on disk after its checkpoints are pruned. Issue 25's target: idle after five runs within 500 MB of the start.
/// </summary>
public sealed class IdleMemoryBenchmark : IBenchmark
{
    private const double MB = 1024 * 1024;
    private const int Runs = 5;

    public string Name => "idle-memory";
    public string Description => "Resident memory of one process after each of five small training runs (the run service gives memory back when a run ends) vs its start and each run's peak; a run folder's size after pruning";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) =>
        RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    private static async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        // Without the release first: whatever it leaves behind can only raise the figures of the runs with it.
        var without = await RunsAsync(release: false, progress, cancellationToken);
        var with = await RunsAsync(release: true, progress, cancellationToken);
        var results = new List<BenchResult>();
        for (int i = 0; i < Runs; i++)
        {
            results.Add(new BenchResult($"memory.after-run-{i + 1}-over-start", (with.After[i] - with.Start) / MB, "MB", (without.After[i] - without.Start) / MB, "no release",
                $"resident after the run ended, over the start ({with.Start / MB:N0} MB; without: {without.Start / MB:N0} MB); its peak {with.Peak[i] / MB:N0} MB"));
        }
        results.Add(new BenchResult("memory.idle-after-5-runs-over-start", (with.After[^1] - with.Start) / MB, "MB", 500, "target",
            $"from {with.Start / MB:N0} MB to {with.After[^1] / MB:N0} MB; without the release {without.After[^1] / MB:N0} MB (before issue 25 an idle portal held 3.5 GB after an afternoon of runs)"));
        results.Add(new BenchResult("disk.run-folder-after-pruning", with.Folder / MB, "MB", null, null,
            "model.onnx and the weights Grad-CAM reads; the optimizer state and spare weights are pruned after export (before: 180-245 MB a run)"));
        return results;
    }

    private sealed record Measured(long Start, long[] After, long[] Peak, long Folder);

    /// <summary>Five runs in a data folder of their own, with the run service's memory release on or off.</summary>
    private static async Task<Measured> RunsAsync(bool release, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        string root = Path.Combine(Path.GetTempPath(), $"wbc-bench-idle-{Guid.NewGuid():N}");
        string data = Path.Combine(root, "data"), cells = Path.Combine(root, "cells");
        Directory.CreateDirectory(data);
        try
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Storage:DataDirectory"] = data,
                ["Compute:ReleaseMemoryAfterRun"] = release ? "true" : "false",
            }).Build();
            await using var services = new ServiceCollection()
                .AddSingleton<IConfiguration>(configuration)
                .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
                .AddWbcCore()
                .BuildServiceProvider();
            await services.GetRequiredService<DatabaseMigrator>().MigrateAsync();
            string[] classes = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];
            WriteCells(cells, classes, perClass: 16);
            await services.GetRequiredService<DatasetService>().ImportFolderAsync("bench-cells", cells, null, cancellationToken);
            await services.GetRequiredService<SplitService>().CreateAsync(new SplitRequest("bench-cells", SplitStrategy.Random, new SplitRatios(0.5, 0.25, 0.25), 1, "bench-split"), cancellationToken: cancellationToken);
            var runs = services.GetRequiredService<TrainingRunService>();
            // Small, but every part of a real run: two rounds, the backbone unfrozen, export, calibration, evaluations.
            var preset = TrainingPresets.Get("default");
            var config = preset with
            {
                InputHeight = 96, InputWidth = 96, BatchSize = 16, Device = "cpu",
                Round1 = preset.Round1 with { Epochs = 1 },
                Round2 = preset.Round2 with { Epochs = 1 },
            };

            long start = ProcessMemory.Release();
            var after = new long[Runs];
            var peak = new long[Runs];
            long folder = 0;
            for (int i = 0; i < Runs; i++)
            {
                progress?.Report($"run {i + 1} of {Runs}, memory release {(release ? "on" : "off")}");
                if (File.Exists("/proc/self/clear_refs")) File.WriteAllText("/proc/self/clear_refs", "5");
                var run = await runs.CreateAsync("bench-split", config, $"bench-run-{i + 1}", cancellationToken);
                await runs.ExecuteAsync(run.Id, cancellationToken: cancellationToken);
                peak[i] = ProcessMemory.PeakBytes() ?? 0;
                after[i] = ProcessMemory.ResidentBytes();
                folder = Directory.EnumerateFiles(WbcPortal.Storage.DataFolderLayout.RunFolder(data, run.Id), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            }
            return new Measured(start, after, peak, folder);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Small synthetic cells: a coloured disc on a pale field, one colour per class, jittered per image.</summary>
    private static void WriteCells(string root, IReadOnlyList<string> classes, int perClass)
    {
        var random = new Random(7);
        for (int c = 0; c < classes.Count; c++)
        {
            string dir = Directory.CreateDirectory(Path.Combine(root, classes[c])).FullName;
            for (int i = 0; i < perClass; i++)
            {
                using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(128, 96);
                byte r = (byte)(120 + 30 * c), g = (byte)(60 + random.Next(40)), b = (byte)(200 - 30 * c);
                int cx = 40 + random.Next(48), cy = 30 + random.Next(36), radius = 14 + random.Next(10);
                image.ProcessPixelRows(rows =>
                {
                    for (int y = 0; y < rows.Height; y++)
                    {
                        var row = rows.GetRowSpan(y);
                        for (int x = 0; x < row.Length; x++)
                        {
                            bool inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < radius * radius;
                            row[x] = inside ? new SixLabors.ImageSharp.PixelFormats.Rgb24(r, g, b) : new SixLabors.ImageSharp.PixelFormats.Rgb24(235, 215, 220);
                        }
                    }
                });
                SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, Path.Combine(dir, $"c{i}.png"));
            }
        }
    }
}
