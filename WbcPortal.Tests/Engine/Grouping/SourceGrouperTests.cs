using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Imaging.Augmentation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>The grouper must recover which images are augmented copies of one original.</summary>
public sealed class SourceGrouperTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "wbc-grouping-" + Guid.NewGuid().ToString("N"));

    public SourceGrouperTests() => Directory.CreateDirectory(directory);

    public void Dispose()
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public void Recovers_augmented_copies_of_synthetic_smears()
    {
        const int originals = 12, copies = 10;
        var augmenter = new AffineAugmenter(AugmentationOptions.KaggleBloodCells);
        var inputs = new List<GroupingInput>();
        var truth = new Dictionary<string, int>();
        for (int o = 0; o < originals; o++)
        {
            using var original = DenseSmear(seed: 100 + o);
            var random = new Random(o);
            for (int k = 0; k < copies; k++)
            {
                using var copy = augmenter.Augment(original, random);
                string path = Path.Combine(directory, $"s{o}_{k}.png");
                copy.SaveAsPng(path);
                string key = $"s{o}_{k}";
                inputs.Add(new GroupingInput(key, o % 2 == 0 ? "A" : "B", path));
                truth[key] = o;
            }
        }

        var grouper = new SourceGrouper(new GroupingOptions());
        var result = grouper.Group(inputs, cancellationToken: TestContext.Current.CancellationToken);
        var score = GroupingScore.Compute(result, truth);
        TestContext.Current.TestOutputHelper?.WriteLine(score.ToString());

        Assert.True(score.AdjustedRand >= 0.95, score.ToString());
        // Every key in exactly one group; ids 0..n-1.
        Assert.Equal(inputs.Select(i => i.Key).Order(), result.Groups.SelectMany(g => g.Keys).Order());
        Assert.Equal(Enumerable.Range(0, result.Groups.Count), result.Groups.Select(g => g.Id));
        // Pairs join images of one group, a few per image, not all pairs.
        var groupOf = result.Groups.SelectMany(g => g.Keys.Select(k => (k, g.Id))).ToDictionary(x => x.k, x => x.Id);
        Assert.NotEmpty(result.Pairs);
        Assert.All(result.Pairs, p => Assert.Equal(groupOf[p.A], groupOf[p.B]));
        Assert.True(result.Pairs.Count <= inputs.Count * 3);
        // Deterministic.
        var again = grouper.Group(inputs, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(result.Groups.Select(g => string.Join(",", g.Keys)), again.Groups.Select(g => string.Join(",", g.Keys)));
    }

    /// <summary>A smear closer to BCCD than <see cref="TestImages.Smear"/>: stain tint that varies by slide, ~30 red cells with pale
    /// centres, a lobed nucleus with its cytoplasm near the middle.</summary>
    private static Image<Rgb24> DenseSmear(int seed, int width = 320, int height = 240)
    {
        var rng = new Random(seed);
        int tint = rng.Next(-15, 16), tintB = rng.Next(-15, 16);
        var cells = Enumerable.Range(0, 30).Select(_ => (X: rng.Next(width), Y: rng.Next(height), R: rng.Next(16, 24))).ToArray();
        int nx = width / 2 + rng.Next(-25, 25), ny = height / 2 + rng.Next(-25, 25);
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
                    int r = 232 + tint, g = 222 + tint, b = 226 + tintB;
                    foreach (var c in cells)
                    {
                        int d2 = (x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y);
                        if (d2 < c.R * c.R) { bool centre = d2 < c.R * c.R / 4; r = 215 + tint; g = centre ? 170 : 140; b = (centre ? 175 : 150) + tintB; }
                    }
                    if ((x - nx) * (x - nx) + (y - ny) * (y - ny) < cytoplasm * cytoplasm) { r = 200 + tint; g = 180; b = 215 + tintB; }
                    foreach (var l in lobes)
                    {
                        if ((x - l.X) * (x - l.X) + (y - l.Y) * (y - l.Y) < l.R * l.R) { r = 100 + tint; g = 60; b = 160 + tintB; }
                    }
                    row[x] = new Rgb24((byte)Math.Clamp(r + noise, 0, 255), (byte)Math.Clamp(g + noise, 0, 255), (byte)Math.Clamp(b + noise, 0, 255));
                }
            }
        });
        return image;
    }

    [Fact]
    public void Unreadable_files_become_singletons()
    {
        using var image = TestImages.Smear(seed: 5);
        string good = Path.Combine(directory, "good.png");
        image.SaveAsPng(good);
        string bad = Path.Combine(directory, "bad.png");
        File.WriteAllText(bad, "not an image");
        var result = new SourceGrouper(new GroupingOptions()).Group(
            [new GroupingInput("g", "A", good), new GroupingInput("b", "A", bad)], cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(2, result.Groups.Count);
        Assert.Contains(result.Groups, g => g.Keys.SequenceEqual(["b"]));
    }

    [Fact]
    public void Groups_bccd_originals_augmented_like_the_kaggle_set()
    {
        if (SharedData.Root is null || !Directory.Exists(Path.Combine(SharedData.Bccd, "JPEGImages")))
        {
            Assert.Skip("Needs the BCCD dataset in ../shared/data/bccd, which is not on this machine.");
        }
        // Every 4th single-class BCCD smear (87 originals), 16 augmented copies each (~1,400 images).
        var originals = BccdSyntheticSet.LoadOriginals(SharedData.Bccd).Where((_, i) => i % 4 == 0).ToList();
        var (inputs, truth) = BccdSyntheticSet.Generate(SharedData.Bccd, originals, 16, seed: 11, directory,
            cancellationToken: TestContext.Current.CancellationToken);

        var result = new SourceGrouper(new GroupingOptions()).Group(inputs, cancellationToken: TestContext.Current.CancellationToken);
        var score = GroupingScore.Compute(result, truth);
        TestContext.Current.TestOutputHelper?.WriteLine(score.ToString());

        // Measured: ARI 0.996, purity 1.000, completeness 0.994, 89 groups for 87 originals.
        Assert.True(score.AdjustedRand >= 0.97, score.ToString());
        Assert.True(score.Purity >= 0.98, score.ToString());
        Assert.True(score.Completeness >= 0.97, score.ToString());
        Assert.InRange(result.Groups.Count, originals.Count * 9 / 10, originals.Count * 13 / 10);
    }
}
