using WbcPortal.Tests.Support.Grouping;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>The grouper on copies made unlike the Kaggle set's (<see cref="CopyAugmentation"/>: any-angle rotation, flips, crop,
/// scale, colour jitter, JPEG re-compression): it must not depend on how the copies were made.</summary>
[Trait("Category", "RealData")]
public sealed class AugmentedCopySetTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "wbc-copies-" + Guid.NewGuid().ToString("N"));

    public AugmentedCopySetTests() => Directory.CreateDirectory(directory);

    public void Dispose()
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Originals with at least 1 and at least 3 copies outside their largest group.</summary>
    internal static (int AtLeast1, int AtLeast3) Fragmented(GroupingResult result, IReadOnlyDictionary<string, int> truth)
    {
        var groupOf = result.Groups.SelectMany(g => g.Keys.Select(k => (k, g.Id))).ToDictionary(x => x.k, x => x.Id);
        int a1 = 0, a3 = 0;
        foreach (var original in truth.GroupBy(kv => kv.Value))
        {
            int outside = original.Count() - original.GroupBy(kv => groupOf[kv.Key]).Max(g => g.Count());
            if (outside >= 1) a1++;
            if (outside >= 3) a3++;
        }
        return (a1, a3);
    }

    /// <summary>The family the tests check (<see cref="CopyAugmentation.Mild"/>).</summary>
    internal static CopyAugmentation Family => CopyAugmentation.Mild;

    [Fact]
    public void Copies_are_different_and_deterministic()
    {
        using var original = SyntheticSmears.Dense(seed: 3);
        using var a = AugmentedCopySet.Copy(original, new Random(1));
        using var b = AugmentedCopySet.Copy(original, new Random(1));
        using var c = AugmentedCopySet.Copy(original, new Random(2));
        Assert.Equal((original.Width, original.Height), (a.Width, a.Height));
        var pa = new Rgb24[a.Width * a.Height]; a.CopyPixelDataTo(pa);
        var pb = new Rgb24[b.Width * b.Height]; b.CopyPixelDataTo(pb);
        var pc = new Rgb24[c.Width * c.Height]; c.CopyPixelDataTo(pc);
        Assert.Equal(pa, pb);
        Assert.NotEqual(pa, pc);
    }

    [Fact]
    public void Recovers_differently_augmented_copies_of_synthetic_smears()
    {
        const int originals = 12, copies = 10;
        var images = Enumerable.Range(0, originals).Select(o => SyntheticSmears.Dense(seed: 200 + o)).ToList();
        try
        {
            var list = images.Select((image, o) => new AugmentedCopySet.Original($"s{o:D2}", o % 2 == 0 ? "A" : "B", image)).ToList();
            var (inputs, truth) = AugmentedCopySet.Generate(list, copies, seed: 5, directory, Family, cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(originals * copies, inputs.Count);

            var result = new SourceGrouper(GroupingOptions.Default).Group(inputs, cancellationToken: TestContext.Current.CancellationToken);
            var score = GroupingScore.Compute(result, truth);
            var (f1, f3) = Fragmented(result, truth);
            string report = $"{score}; originals with 1+ copies outside their group {f1}, with 3+ {f3}";
            TestContext.Current.TestOutputHelper?.WriteLine(report);
            // Measured: ARI 0.940, purity 0.975, completeness 0.967, 13 groups for 12 originals, 2 originals split (1 by 3+ copies).
            Assert.True(score.AdjustedRand >= 0.9, report);
            Assert.True(f3 <= 1, report);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    [Fact]
    public void Recovers_differently_augmented_copies_of_bccd_cells()
    {
        if (SharedData.Root is null || !Directory.Exists(Path.Combine(SharedData.Bccd, "JPEGImages")))
        {
            Assert.Skip("Needs the BCCD dataset in ../shared/data/bccd, which is not on this machine.");
        }
        // Every 6th single-class BCCD smear (58 originals), 12 differently-augmented copies each (~700 images). Grouping only: no
        // classifier is trained or selected on these cells.
        var originals = BccdSyntheticSet.LoadOriginals(SharedData.Bccd).Where((_, i) => i % 6 == 0).ToList();
        var images = originals.Select(o => BccdSyntheticSet.RenderOriginal(SharedData.Bccd, o)).ToList();
        try
        {
            var list = originals.Select((o, i) => new AugmentedCopySet.Original($"bccd{o.Number:D3}", o.ClassName, images[i])).ToList();
            var (inputs, truth) = AugmentedCopySet.Generate(list, 12, seed: 7, directory, Family, cancellationToken: TestContext.Current.CancellationToken);
            var result = new SourceGrouper(GroupingOptions.Default).Group(inputs, cancellationToken: TestContext.Current.CancellationToken);
            var score = GroupingScore.Compute(result, truth);
            var (f1, f3) = Fragmented(result, truth);
            string report = $"{score}; originals with 1+ copies outside their group {f1}, with 3+ {f3}; cuts {string.Join(", ", result.Cuts)}";
            TestContext.Current.TestOutputHelper?.WriteLine(report);
            // Measured: ARI 0.787, purity 0.852, completeness 0.910, 69 groups for 58 originals, 13 split (10 by 3+ copies); cautious 45
            // groups. Far from the Kaggle-like family's 0.995: the whole-frame colour statistics move with any-angle rotation and crops
            // (issue 11, part 2: colour in a disc around the nucleus). A floor under today's figure, not a target.
            Assert.True(score.AdjustedRand >= 0.75, report);
            Assert.True(score.Completeness >= 0.88, report);

            // The cautious margin (version 4: doubtful joins and same-cell links on the nucleus-centred polar images, which any-angle
            // rotation and crops do not move): the margin splits are cut at by default. Measured: completeness 0.990, 4 originals split
            // (1 by 3+ copies; standard 10), ARI 0.669 (42 groups: more originals joined), purity 0.710.
            var cautious = new SourceGrouper(GroupingOptions.Default with { Margin = GroupingMargin.Cautious }).Group(inputs, cancellationToken: TestContext.Current.CancellationToken);
            var cScore = GroupingScore.Compute(cautious, truth);
            var (c1, c3) = Fragmented(cautious, truth);
            string cReport = $"cautious: {cScore}; originals with 1+ copies outside their group {c1}, with 3+ {c3}";
            TestContext.Current.TestOutputHelper?.WriteLine(cReport);
            Assert.True(c3 <= f3, report + "\n" + cReport);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }
}
