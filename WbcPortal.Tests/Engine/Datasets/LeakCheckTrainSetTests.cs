using System.Globalization;
using System.Text;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Datasets.Splitting.LeakCheck;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Datasets;

/// <summary>
/// The leak check on the real Kaggle TRAIN set (9,957 copies of 277 originals), scored with TRAIN_sources.csv (used to
/// measure only, never as an input): recall on a random split (copies of nearly every held-out original sit in train) and
/// false alarms on a split made by the true same-cell groups (no cell on two sides). Skips when ../shared/data is absent.
/// Run alone: <c>dotnet test WbcPortal.Tests -c Release --no-build --filter "FullyQualifiedName~LeakCheckTrainSetTests"</c>.
/// </summary>
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "RealData")]
// Over 30 s where the real data are present (a descriptor or signature pass over 9,957 images): kept out of the fast runs.
[Trait("Category", "Slow")]
public sealed class LeakCheckTrainSetTests
{
    private sealed record Truth(string Source, string Cell);

    [Fact]
    public void Flags_leaks_of_a_random_split_and_stays_quiet_on_a_true_grouped_split()
    {
        string train = SharedData.RequireTrainSet();
        string csv = Path.Combine(Path.GetDirectoryName(train)!, "TRAIN_sources.csv");
        if (!File.Exists(csv)) Assert.Skip($"Needs {csv}, which is not on this machine.");
        var ct = TestContext.Current.CancellationToken;
        var truth = File.ReadLines(csv).Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[0], f => new Truth(f[2], f[3]), StringComparer.Ordinal);
        var files = Directory.GetDirectories(train).OrderBy(d => d, StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d, "*.jpeg").OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => (Key: $"{Path.GetFileName(d)}/{Path.GetFileName(f)}", Path: f))).ToList();
        var log = new StringBuilder();
        var checker = new LeakChecker(LeakCheckOptions.Default);

        // Random split, 0.8 / 0.1 / 0.1 image by image.
        var random = new Random(42);
        var randomParts = files.Select(_ => random.NextDouble() switch { < 0.8 => SplitParts.Train, < 0.9 => SplitParts.Val, _ => SplitParts.Test }).ToArray();
        // By true same-cell group, 0.8 / 0.1 / 0.1 of the groups.
        var cells = files.Select(f => truth[f.Key].Cell).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        var cellRandom = new Random(7);
        var partOfCell = cells.ToDictionary(c => c, _ => cellRandom.NextDouble() switch { < 0.8 => SplitParts.Train, < 0.9 => SplitParts.Val, _ => SplitParts.Test });
        var groupedParts = files.Select(f => partOfCell[truth[f.Key].Cell]).ToArray();

        var randomInputs = files.Select((f, i) => new LeakCheckInput(i, randomParts[i], f.Path)).ToList();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var report = checker.Check(randomInputs, cancellationToken: ct);
        double checkSeconds = watch.Elapsed.TotalSeconds;
        log.AppendLine(CultureInfo.InvariantCulture, $"{files.Count} images, {Environment.ProcessorCount} cores: full check (signatures + search) {checkSeconds:F1} s; {report.SuspectPairs} suspect pairs, {report.HeldOutFlagged}/{report.HeldOut} held-out images flagged");

        watch.Restart();
        var signatures = checker.Signatures(randomInputs, cancellationToken: ct);
        log.AppendLine(CultureInfo.InvariantCulture, $"signatures alone: {watch.Elapsed.TotalSeconds:F1} s");
        watch.Restart();
        var randomPairs = checker.Search(randomInputs, signatures, 1.0, cancellationToken: ct);
        log.AppendLine(CultureInfo.InvariantCulture, $"search alone: {watch.Elapsed.TotalSeconds:F2} s");
        var groupedInputs = files.Select((f, i) => new LeakCheckInput(i, groupedParts[i], f.Path)).ToList();
        var groupedPairs = checker.Search(groupedInputs, signatures, 1.0, cancellationToken: ct);

        // Held-out originals (source images) with a copy in train, and whether the check flags any of their held-out images.
        var heldOutSources = Enumerable.Range(0, files.Count).Where(i => randomParts[i] != SplitParts.Train).Select(i => truth[files[i].Key].Source)
            .Where(s => Enumerable.Range(0, files.Count).Any(j => randomParts[j] == SplitParts.Train && truth[files[j].Key].Source == s)).ToHashSet();
        int heldOutImages = randomParts.Count(p => p != SplitParts.Train);
        log.AppendLine("threshold | random: held-out originals flagged | held-out images flagged | pairs | pairs of different cells | grouped-by-cell: suspect pairs | held-out images");
        var rows = new Dictionary<double, (double OriginalRecall, double ImageRecall, int WrongPairs, int FalsePairs, int OtherFalsePairs)>();
        // Two BCCD smears the truth file keeps apart whose monocyte copies match almost exactly (0.007-0.03, like copies of one
        // cell; side by side they are the same cell, mirrored): counted, and shown apart from the other false alarms.
        bool lookAlike(int a, int b) => new[] { truth[files[a].Key].Source, truth[files[b].Key].Source }.Order(StringComparer.Ordinal).SequenceEqual(["BloodImage_00083", "BloodImage_00281"]);
        foreach (double t in new[] { 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50 })
        {
            var hits = randomPairs.Where(p => p.Distance <= t).ToList();
            var flaggedImages = hits.SelectMany(p => new[] { p.A, p.B }).Where(i => randomParts[i] != SplitParts.Train).ToHashSet();
            var flaggedSources = flaggedImages.Select(i => truth[files[i].Key].Source).Where(heldOutSources.Contains).ToHashSet();
            int wrong = hits.Count(p => truth[files[p.A].Key].Cell != truth[files[p.B].Key].Cell);
            var falseHits = groupedPairs.Where(p => p.Distance <= t).ToList();
            int falseImages = falseHits.SelectMany(p => new[] { p.A, p.B }).Where(i => groupedParts[i] != SplitParts.Train).Distinct().Count();
            double originalRecall = (double)flaggedSources.Count / heldOutSources.Count;
            double imageRecall = (double)flaggedImages.Count / heldOutImages;
            int other = falseHits.Count(p => !lookAlike(p.A, p.B));
            rows[t] = (originalRecall, imageRecall, wrong, falseHits.Count, other);
            log.AppendLine(CultureInfo.InvariantCulture,
                $"{t:F2} | {flaggedSources.Count}/{heldOutSources.Count} ({originalRecall:P1}) | {flaggedImages.Count}/{heldOutImages} ({imageRecall:P1}) | {hits.Count} | {wrong} | {falseHits.Count} ({other} not 00083~00281) | {falseImages}");
        }
        // The closest pairs of the grouped-by-cell split: what a false alarm looks like.
        foreach (var p in groupedPairs.Where(p => !lookAlike(p.A, p.B)).OrderBy(p => p.Distance).Take(8))
        {
            log.AppendLine(CultureInfo.InvariantCulture, $"  closest different-cell pair: {p.Distance:F3} {files[p.A].Key} ({truth[files[p.A].Key].Source}) ~ {files[p.B].Key} ({truth[files[p.B].Key].Source})");
        }

        foreach (var s in heldOutSources.Where(s => !Enumerable.Range(0, files.Count).Any(i => randomParts[i] != SplitParts.Train && truth[files[i].Key].Source == s
            && randomPairs.Any(p => p.Distance <= LeakCheckOptions.Default.Threshold && (p.A == i || p.B == i)))))
        {
            log.AppendLine(CultureInfo.InvariantCulture, $"  held-out original not flagged: {s}");
        }
        string? pairPng = Environment.GetEnvironmentVariable("WBC_LEAKCHECK_PAIR_PNG");
        if (!string.IsNullOrEmpty(pairPng))
        {
            SavePair(pairPng, groupedPairs.OrderBy(p => p.Distance).First());
            SavePair(Path.ChangeExtension(pairPng, null) + "-other.png", groupedPairs.Where(p => !lookAlike(p.A, p.B)).OrderBy(p => p.Distance).First());
        }
        void SavePair(string path, LeakCandidate closest)
        {
            using var left = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(files[closest.A].Path);
            using var right = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(files[closest.B].Path);
            using var both = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(left.Width + right.Width, Math.Max(left.Height, right.Height));
            both.Mutate(c => c.DrawImage(left, new SixLabors.ImageSharp.Point(0, 0), 1f).DrawImage(right, new SixLabors.ImageSharp.Point(left.Width, 0), 1f));
            both.SaveAsPng(path);
        }

        string text = log.ToString();
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        string? reportPath = Environment.GetEnvironmentVariable("WBC_LEAKCHECK_REPORT");
        if (!string.IsNullOrEmpty(reportPath)) File.WriteAllText(reportPath, text);

        double threshold = LeakCheckOptions.Default.Threshold;
        var atThreshold = rows[threshold];
        // Measured at 0.25 (seeds 42 / 7): 270 of 271 held-out originals flagged (99.6 %), 1,956 of 1,981 held-out images
        // (98.7 %); on the split by true cell 28 suspect pairs, 24 of them joining BloodImage_00083 and _00281, which show the
        // same monocyte (looked at: the truth file's same_cell_group misses it), 4 others (all BloodImage_00233 ~ _00254,
        // which side by side look like one lymphocyte with one platelet beside it). 29-49 s for the whole check on 2 cores
        // shared with other work (load 20-31; signatures 19-34 s, search 2-5 s).
        Assert.True(atThreshold.OriginalRecall >= 0.98, text);
        Assert.True(atThreshold.ImageRecall >= 0.97, text);
        Assert.True(atThreshold.FalsePairs <= 45, text);
        Assert.True(atThreshold.OtherFalsePairs <= 10, text);
        Assert.True(checkSeconds < 60, text);
    }
}
