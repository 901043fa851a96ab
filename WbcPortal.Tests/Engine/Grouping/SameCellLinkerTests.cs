using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Imaging;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>The grouper's same-cell links on smears the test makes: two originals framing one cell differently (an overlapping
/// field: shifted, rotated) are joined; originals of other cells are not, and one chance pair is not enough.</summary>
public sealed class SameCellLinkerTests : IDisposable
{
    private readonly TempDirectory directory = new("wbc-samecell");

    public void Dispose() => directory.Dispose();

    [Fact]
    public void Joins_two_originals_of_one_cell_and_keeps_other_cells_apart()
    {
        var ct = TestContext.Current.CancellationToken;
        var inputs = new List<GroupingInput>();
        var labels = new List<int>();
        var random = new Random(11);
        // Original 0: a smear; original 1: the same field shifted by 30 px and turned a quarter (another photograph of the cell);
        // originals 2 and 3: other cells. Each original's copies are one group, as the descriptor's cut would leave them.
        using var field = LeakCheckerTests.Smear(seed: 21, width: 380, height: 300);
        using var first = field.Clone(c => c.Crop(new Rectangle(20, 20, 320, 240)));
        using var second = field.Clone(c => c.Crop(new Rectangle(50, 40, 320, 240)).Rotate(RotateMode.Rotate180));
        using var other = LeakCheckerTests.Smear(seed: 22);
        using var third = LeakCheckerTests.Smear(seed: 23);
        Image<Rgb24>[] originals = [first, second, other, third];
        for (int o = 0; o < originals.Length; o++)
        {
            for (int k = 0; k < 5; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(originals[o], random);
                string path = Path.Combine(directory.Path, $"o{o}-{k}.png");
                copy.SaveAsPng(path);
                inputs.Add(new GroupingInput($"o{o}/{k}", "A", path));
                labels.Add(o);
            }
        }
        var grouper = new SourceGrouper(GroupingOptions.Default);
        var signatures = grouper.ExtractSignatures(inputs, cancellationToken: ct);
        var links = SameCellLinker.Links(inputs.Select(i => i.ClassName).ToList(), labels, signatures, 12, 1.0, 0, ct);
        string report = string.Join("\n", links.OrderBy(l => l.Distance).Take(12).Select(l => $"{inputs[l.A].Key} ~ {inputs[l.B].Key}: {l.Distance:F3}"));
        TestContext.Current.TestOutputHelper?.WriteLine(report);

        // Every link is across groups, once.
        Assert.All(links, l => Assert.NotEqual(labels[l.A], labels[l.B]));
        Assert.Equal(links.Count, links.Select(l => (l.A, l.B)).Distinct().Count());

        var joined = SameCellLinker.Join(labels, links, GroupingOptions.Default.LinkDistance, GroupingOptions.Default.LinkPairs);
        int GroupOf(int original) => joined[inputs.FindIndex(i => i.Key.StartsWith($"o{original}/", StringComparison.Ordinal))];
        Assert.Equal(GroupOf(0), GroupOf(1));
        Assert.NotEqual(GroupOf(0), GroupOf(2));
        Assert.NotEqual(GroupOf(0), GroupOf(3));
        Assert.NotEqual(GroupOf(2), GroupOf(3));
        // Copies of one original stay together whatever the links.
        for (int i = 0; i < inputs.Count; i++) Assert.Equal(GroupOf(labels[i]), joined[i]);

        // One pair under the distance does not join when two are asked for; with one asked for it does.
        var single = new List<SameCellLink> { new(0, 10, 0.05) };
        Assert.NotEqual(SameCellLinker.Join(labels, single, 0.15, 2)[0], SameCellLinker.Join(labels, single, 0.15, 2)[10]);
        Assert.Equal(SameCellLinker.Join(labels, single, 0.15, 1)[0], SameCellLinker.Join(labels, single, 0.15, 1)[10]);
    }

    [Fact]
    public void The_cautious_margin_of_the_grouper_joins_the_two_originals_and_keeps_the_links_it_used()
    {
        var ct = TestContext.Current.CancellationToken;
        var inputs = new List<GroupingInput>();
        var random = new Random(4);
        using var field = LeakCheckerTests.Smear(seed: 31, width: 380, height: 300);
        using var first = field.Clone(c => c.Crop(new Rectangle(10, 10, 320, 240)));
        using var second = field.Clone(c => c.Crop(new Rectangle(50, 50, 320, 240)).Flip(FlipMode.Horizontal));
        using var other = LeakCheckerTests.Smear(seed: 32);
        Image<Rgb24>[] originals = [first, second, other];
        for (int o = 0; o < originals.Length; o++)
        {
            for (int k = 0; k < 6; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(originals[o], random);
                string path = Path.Combine(directory.Path, $"m{o}-{k}.png");
                copy.SaveAsPng(path);
                inputs.Add(new GroupingInput($"m{o}/{k}", "A", path));
            }
        }
        var cautious = new SourceGrouper(GroupingOptions.Default with { Margin = GroupingMargin.Cautious }).Group(inputs, cancellationToken: ct);
        var unlinked = new SourceGrouper(GroupingOptions.Default with { Margin = GroupingMargin.Cautious, LinkDistance = 0 }).Group(inputs, cancellationToken: ct);
        int Group(GroupingResult r, string key) => r.Groups.Single(g => g.Keys.Contains(key)).Id;
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(" | ", cautious.Groups.Select(g => string.Join(",", g.Keys))));
        Assert.Equal(Group(cautious, "m0/0"), Group(cautious, "m1/0"));
        Assert.NotEqual(Group(cautious, "m0/0"), Group(cautious, "m2/0"));
        // The links used are kept as near-duplicate pairs: the page can show why two originals were joined.
        Assert.Contains(cautious.Pairs, p => p.A.StartsWith("m0/", StringComparison.Ordinal) && p.B.StartsWith("m1/", StringComparison.Ordinal));
        Assert.True(unlinked.Groups.Count >= cautious.Groups.Count);
    }
}
