using WbcPortal.Tests.Support.Grouping;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Imaging.Augmentation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>The grouper must recover which images are augmented copies of one original.</summary>
[Trait("Category", "RealData")]
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
            using var original = SyntheticSmears.Dense(seed: 100 + o);
            var random = new Random(o);
            for (int k = 0; k < copies; k++)
            {
                using var copy = augmenter.Augment(original, random);
                // Copies of one Kaggle original differ in exposure (brightness up to about +-10 %), as the real set's do.
                Expose(copy, 0.9 + 0.2 * random.NextDouble());
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

    /// <summary>Scales every non-fill pixel by <paramref name="gain"/> (a copy exposed brighter or darker).</summary>
    private static void Expose(Image<Rgb24> image, double gain)
    {
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                foreach (ref var p in rows.GetRowSpan(y))
                {
                    if (p.R + p.G + p.B == 0) continue;
                    p = new Rgb24((byte)Math.Min(255, p.R * gain + 0.5), (byte)Math.Min(255, p.G * gain + 0.5), (byte)Math.Min(255, p.B * gain + 0.5));
                }
            }
        });
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
