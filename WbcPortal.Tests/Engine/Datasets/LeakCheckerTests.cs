using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Datasets.Splitting.LeakCheck;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Imaging.Augmentation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Datasets;

/// <summary>The independent leak check on synthetic smears the test makes: copies of one cell across parts are found,
/// whatever their rotation, flip, shift or exposure; different cells are not; pairs within a part are never reported.</summary>
public sealed class LeakCheckerTests : IDisposable
{
    private readonly TempDirectory directory = new("wbc-leakcheck");

    public void Dispose() => directory.Dispose();

    /// <summary>Any-angle rotation, both flips, shift, shear and mild zoom: harsher than the Kaggle set's own copies.</summary>
    internal static readonly AffineAugmenter Augmenter = new(AugmentationOptions.KaggleBloodCells with { RotationDegrees = 180, Zoom = 0.05 });

    [Fact]
    public void A_rotated_flipped_shifted_darker_copy_is_close_and_another_cell_is_not()
    {
        using var original = Smear(seed: 3);
        using var copy = Augmenter.Augment(original, new Random(1));
        copy.Mutate(c => c.Brightness(0.85f).Contrast(1.1f));
        using var other = Smear(seed: 4);
        var a = PolarSignature.Compute(original);
        double same = PolarSignature.Distance(a, PolarSignature.Compute(copy));
        double different = PolarSignature.Distance(a, PolarSignature.Compute(other));
        TestContext.Current.TestOutputHelper?.WriteLine($"copy {same:F3}, other cell {different:F3}");
        Assert.True(same < LeakCheckOptions.Default.Threshold, $"copy at {same:F3}");
        Assert.True(different > LeakCheckOptions.Default.Threshold + 0.15, $"other cell at {different:F3}");
        Assert.Equal(0, PolarSignature.Distance(a, a), 6);
    }

    [Fact]
    public void Finds_copies_across_parts_and_nothing_else()
    {
        // O0 in train and val, O1 in train and test, O3 in val and test: three leaks. O2 only in train, O4 and O5 only in test.
        (int Original, string Part, int Copies)[] plan =
        [
            (0, SplitParts.Train, 3), (1, SplitParts.Train, 3), (2, SplitParts.Train, 3),
            (0, SplitParts.Val, 1), (3, SplitParts.Val, 2),
            (1, SplitParts.Test, 1), (3, SplitParts.Test, 1), (4, SplitParts.Test, 2), (5, SplitParts.Test, 1),
        ];
        var inputs = new List<LeakCheckInput>();
        var originalOf = new Dictionary<int, int>();
        var random = new Random(5);
        foreach (var (o, part, copies) in plan)
        {
            using var original = Smear(seed: 40 + o);
            for (int k = 0; k < copies; k++)
            {
                using var copy = Augmenter.Augment(original, random);
                copy.Mutate(c => c.Brightness(0.85f + 0.3f * (float)random.NextDouble()));
                int id = inputs.Count + 1;
                string path = Path.Combine(directory.Path, $"{id}.png");
                copy.SaveAsPng(path);
                inputs.Add(new LeakCheckInput(id, part, path));
                originalOf[id] = o;
            }
        }
        var progress = new List<double>();
        var report = new LeakChecker(LeakCheckOptions.Default).Check(inputs, new SyncProgress(progress.Add), TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", report.Pairs.Select(p => $"{p.ImageA} {p.PartA} ~ {p.ImageB} {p.PartB}: {p.Distance:F3}")));

        Assert.Equal(inputs.Count, report.ImagesChecked);
        Assert.All(report.Pairs, p => Assert.Equal(originalOf[p.ImageA], originalOf[p.ImageB]));
        Assert.All(report.Pairs, p => Assert.NotEqual(p.PartA, p.PartB));
        Assert.Equal(report.SuspectPairs, report.Pairs.Count);
        bool leak(int o, string partA, string partB) => report.Pairs.Any(p => originalOf[p.ImageA] == o && p.PartA == partA && p.PartB == partB);
        Assert.True(leak(0, SplitParts.Train, SplitParts.Val));
        Assert.True(leak(1, SplitParts.Train, SplitParts.Test));
        Assert.True(leak(3, SplitParts.Val, SplitParts.Test));
        Assert.DoesNotContain(report.Pairs, p => originalOf[p.ImageA] is 2 or 4 or 5);
        // Held out: the val copy of O0, both val copies of O3, the test copies of O1 and O3.
        Assert.Equal(5, report.HeldOutFlagged);
        Assert.Equal(inputs.Count(i => i.Part != SplitParts.Train), report.HeldOut);
        Assert.Equal(1.0, progress[^1]);
        Assert.Equal(LeakCheckOptions.Default.Threshold, report.Threshold);
        Assert.StartsWith(LeakChecker.MethodName, report.Method, StringComparison.Ordinal);
    }

    [Fact]
    public void Keeps_the_closest_pairs_and_counts_them_all_and_an_unreadable_file_is_left_out()
    {
        using var original = Smear(seed: 9);
        var inputs = new List<LeakCheckInput>();
        var random = new Random(2);
        for (int k = 0; k < 6; k++)
        {
            using var copy = Augmenter.Augment(original, random);
            string path = Path.Combine(directory.Path, $"c{k}.png");
            copy.SaveAsPng(path);
            inputs.Add(new LeakCheckInput(k + 1, k < 3 ? SplitParts.Train : SplitParts.Test, path));
        }
        string bad = Path.Combine(directory.Path, "bad.png");
        File.WriteAllText(bad, "not an image");
        inputs.Add(new LeakCheckInput(99, SplitParts.Val, bad));
        var checker = new LeakChecker(LeakCheckOptions.Default);
        var signatures = checker.Signatures(inputs, cancellationToken: TestContext.Current.CancellationToken);
        var all = checker.Search(inputs, signatures, 1.0, cancellationToken: TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", all.Select(p => $"{p.A}~{p.B}: {p.Distance:F3}")));
        Assert.Equal(9, all.Count); // 3 test copies x 3 train copies, all among the candidates
        var pairs = checker.Search(inputs, signatures, LeakCheckOptions.Default.Threshold, cancellationToken: TestContext.Current.CancellationToken);
        // Any-angle rotations with shear leave a few copy pairs above the threshold (measured 0.34 for the worst of 9); every
        // test copy still has a train partner below it.
        Assert.True(pairs.Count >= 7, $"{pairs.Count} of 9 copy pairs under the threshold");
        var report = checker.Report(inputs, signatures, pairs, 0.1);
        Assert.Equal(1, report.Unreadable);
        Assert.Equal(6, report.ImagesChecked);
        Assert.Equal(3, report.HeldOutFlagged);
        Assert.Equal(report.Pairs.OrderBy(p => p.Distance).Select(p => p.Distance), report.Pairs.Select(p => p.Distance));
    }

    [Fact]
    public void Stops_when_cancelled()
    {
        using var image = Smear(seed: 1);
        string path = Path.Combine(directory.Path, "one.png");
        image.SaveAsPng(path);
        var inputs = Enumerable.Range(1, 50).Select(i => new LeakCheckInput(i, i % 2 == 0 ? SplitParts.Train : SplitParts.Test, path, $"k{i}")).ToList();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new LeakChecker(LeakCheckOptions.Default).Check(inputs, cancellationToken: cancel.Token));
    }

    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }

    /// <summary>A BCCD-like smear: ~30 red cells with pale centres, a lobed purple nucleus in its cytoplasm near the middle.</summary>
    internal static Image<Rgb24> Smear(int seed, int width = 320, int height = 240)
    {
        var rng = new Random(seed);
        var cells = Enumerable.Range(0, 30).Select(_ => (X: rng.Next(width), Y: rng.Next(height), R: rng.Next(16, 24))).ToArray();
        int nx = width / 2 + rng.Next(-20, 20), ny = height / 2 + rng.Next(-20, 20);
        var lobes = Enumerable.Range(0, rng.Next(2, 5)).Select(_ => (X: nx + rng.Next(-14, 15), Y: ny + rng.Next(-14, 15), R: rng.Next(9, 15))).ToArray();
        int cytoplasm = rng.Next(28, 36);
        var image = new Image<Rgb24>(width, height);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    int noise = rng.Next(-6, 7);
                    int r = 232, g = 222, b = 226;
                    foreach (var c in cells)
                    {
                        int d2 = (x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y);
                        if (d2 < c.R * c.R) { bool centre = d2 < c.R * c.R / 4; r = 215; g = centre ? 170 : 140; b = centre ? 175 : 150; }
                    }
                    if ((x - nx) * (x - nx) + (y - ny) * (y - ny) < cytoplasm * cytoplasm) { r = 200; g = 180; b = 215; }
                    foreach (var l in lobes)
                    {
                        if ((x - l.X) * (x - l.X) + (y - l.Y) * (y - l.Y) < l.R * l.R) { r = 100; g = 60; b = 160; }
                    }
                    row[x] = new Rgb24((byte)Math.Clamp(r + noise, 0, 255), (byte)Math.Clamp(g + noise, 0, 255), (byte)Math.Clamp(b + noise, 0, 255));
                }
            }
        });
        return image;
    }
}
