using System.Diagnostics;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Exploration;

/// <summary>
/// Measures a seeded sample of a dataset's images per class: grayscale histograms, threshold
/// fractions (read off the histograms) and the share of black rotation borders.
/// </summary>
public sealed class DatasetExplorer(ImageDecoding decoding)
{
    public ExplorationResult Explore(IReadOnlyList<ExplorationImage> images, ExplorationOptions? options = null, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new ExplorationOptions();
        var watch = Stopwatch.StartNew();
        var totals = images.GroupBy(i => i.ClassName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var sample = Sampling.PerClass(images, i => i.ClassName, options.SamplePerClass, options.Seed);
        var measures = new ImageMeasure?[sample.Count];
        int done = 0, failed = 0;
        RunOnOwnThreads(sample.Count, Math.Max(1, options.MaxDegreeOfParallelism), i =>
        {
            try
            {
                using var image = decoding.DecodeRgb(sample[i].Path, cancellationToken);
                measures[i] = PixelMeasures.Measure(image, options.BlackLevel);
            }
            catch (Exception ex) when (ex is IOException or ImageRejectedException or ImageFormatException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref failed); // a missing or unreadable file is left out, not fatal
            }
            progress?.Report(Interlocked.Increment(ref done) / (double)sample.Count);
        }, cancellationToken);

        var classes = new List<ClassExploration>();
        var all = new double[256];
        int measured = 0;
        foreach (var group in sample.Select((image, index) => (image.ClassName, Measure: measures[index]))
                     .GroupBy(x => x.ClassName, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var ok = group.Where(x => x.Measure is not null).Select(x => x.Measure!).ToList();
            var density = new double[256];
            foreach (var m in ok)
            {
                for (int b = 0; b < 256; b++)
                {
                    density[b] += m.Density[b] / ok.Count;
                    all[b] += m.Density[b];
                }
            }
            measured += ok.Count;
            classes.Add(new ClassExploration(group.Key, totals[group.Key], ok.Count, density, ok.Select(m => m.BlackFraction).ToArray()));
        }
        if (measured > 0)
        {
            for (int b = 0; b < 256; b++) all[b] /= measured;
        }
        return new ExplorationResult(classes, all, measured, failed, watch.Elapsed);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for 0..count-1 on the calling thread and <paramref name="degree"/> - 1
    /// threads of its own. Not Parallel.For: on a two-core server its pool workers are the ones the
    /// web circuits need, and a long measurement would starve them.
    /// </summary>
    private static void RunOnOwnThreads(int count, int degree, Action<int> body, CancellationToken cancellationToken)
    {
        int next = -1;
        Exception? failure = null;
        void Work()
        {
            try
            {
                int i;
                while (Volatile.Read(ref failure) is null && !cancellationToken.IsCancellationRequested && (i = Interlocked.Increment(ref next)) < count) body(i);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref failure, ex, null);
            }
        }
        var threads = Enumerable.Range(1, Math.Min(degree, count) - 1)
            .Select(n => new Thread(Work) { IsBackground = true, Name = $"wbc-explore-{n}" }).ToList();
        threads.ForEach(t => t.Start());
        Work();
        threads.ForEach(t => t.Join());
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        cancellationToken.ThrowIfCancellationRequested();
    }
}
