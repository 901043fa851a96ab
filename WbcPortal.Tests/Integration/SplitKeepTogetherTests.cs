using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Splits;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// A grouped split keeps the leak check's suspect pairs together: the same cell filed under two class folders (which source
/// groups, cut within a class, never join) lands on two sides in a first draw; the split joins the two groups, draws again and
/// is stored leak-free, saying so. Asked not to, it stores the first draw with its suspect pairs. Real services and SQLite.
/// </summary>
[Trait("Category", "Torch")]
public sealed class SplitKeepTogetherTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-keep-data");
    private readonly TempDirectory source = new("wbc-keep-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    [Fact]
    public async Task The_same_cell_under_two_classes_is_kept_on_one_side_and_the_split_says_so()
    {
        var ct = TestContext.Current.CancellationToken;
        await SameCellFixture.WriteAsync(source.Path, originals: 10, copies: 4, seed: 500, ct);

        await using var services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        await services.GetRequiredService<DatasetService>().ImportFolderAsync("cells", source.Path, cancellationToken: ct);
        var splits = services.GetRequiredService<SplitService>();

        // A seed whose first draw puts o0 and x0 on two sides: the check finds them (no source group does).
        SplitSummary? apart = null;
        int seed = 0;
        for (; seed < 30 && apart is null; seed++)
        {
            var draw = await splits.CreateAsync(new SplitRequest("cells", SplitStrategy.Grouped, new SplitRatios(0.6, 0.2, 0.2), seed, $"apart-{seed}",
                Margin: GroupingMargin.Standard, KeepSuspectsTogether: false), cancellationToken: ct);
            if (draw.Report.LeakCheck!.SuspectPairs > 0) apart = draw;
        }
        Assert.NotNull(apart);
        seed--;
        Assert.Null(apart.Report.SuspectsKeptTogether);
        Assert.Equal(SplitHonestyStatus.SuspectPairs, apart.Report.Honesty.Status);
        var members = await splits.GetMembersAsync(apart.Id, ct);
        string PartOf(IReadOnlyDictionary<string, IReadOnlyList<string>> m, string file) => m.Single(kv => kv.Value.Any(v => v.EndsWith(file, StringComparison.Ordinal))).Key;
        Assert.NotEqual(PartOf(members, "o0_0.png"), PartOf(members, "x0_0.png"));

        var together = await splits.CreateAsync(new SplitRequest("cells", SplitStrategy.Grouped, new SplitRatios(0.6, 0.2, 0.2), seed, $"together-{seed}",
            Margin: GroupingMargin.Standard), cancellationToken: ct);
        var kept = together.Report.SuspectsKeptTogether;
        Assert.NotNull(kept);
        Assert.True(kept.Rounds >= 1 && kept.GroupsJoined >= 1 && kept.Pairs >= 1, $"{kept}");
        Assert.True(kept.Stopped is null, kept.Stopped);
        Assert.Equal(0, together.Report.LeakCheck!.SuspectPairs);
        Assert.Equal(SplitHonestyStatus.LeakFree, together.Report.Honesty.Status);
        var joined = await splits.GetMembersAsync(together.Id, ct);
        var side = PartOf(joined, "o0_0.png");
        Assert.All(Enumerable.Range(0, 4), k =>
        {
            Assert.Equal(side, PartOf(joined, $"o0_{k}.png"));
            Assert.Equal(side, PartOf(joined, $"x0_{k}.png"));
        });
        // Every part still has images: joining did not empty one.
        Assert.All(SplitParts.All, p => Assert.NotEmpty(joined[p]));
        Assert.Equal(kept.GroupsJoined, kept.Joins.Count);

        // Cross-validation folds dealt from this split keep what it joined on one side in every fold (when both were dealt).
        var cv = await services.GetRequiredService<WbcPortal.Services.Training.CrossValidationService>()
            .CreateAsync(together.Name, 3, new WbcPortal.Engine.Training.TrainingConfig(), cancellationToken: ct);
        for (int f = 1; f <= 3; f++)
        {
            var fold = await splits.GetAsync($"{cv.Name}-fold{f}", ct);
            var foldMembers = await splits.GetMembersAsync(fold.Id, ct);
            bool Has(string file) => foldMembers.Values.Any(v => v.Any(x => x.EndsWith(file, StringComparison.Ordinal)));
            if (!Has("o0_0.png")) continue; // o0 and x0 sit in the split's test part, which folds do not use
            Assert.Equal(PartOf(foldMembers, "o0_0.png"), PartOf(foldMembers, "x0_0.png"));
        }
    }
}

/// <summary>The joins a split records are applied to items the same way wherever they are dealt again (cross-validation folds).</summary>
[Trait("Category", "Torch")]
public class SuspectsKeptTogetherApplyTests
{
    [Fact]
    public void Joins_merge_the_groups_of_their_images_and_leave_the_rest()
    {
        var items = new List<SplitItem>
        {
            new(1, "EOS", 10, null), new(2, "EOS", 10, null), new(3, "NEU", 20, null), new(4, "NEU", 30, null), new(5, "EOS", 40, null),
        };
        // 2 ~ 3 joins groups 10 and 20; 3 ~ 4 then joins 30 too (chained); a join naming an image not dealt here is skipped.
        var kept = new SuspectsKeptTogether(2, 5, 3) { Joins = [[2, 3], [3, 4], [1, 99]] };
        var applied = kept.Apply(items);
        Assert.Equal(applied[0].Group, applied[2].Group);
        Assert.Equal(applied[0].Group, applied[3].Group);
        Assert.Equal(applied[0].Group, applied[1].Group);
        Assert.NotEqual(applied[0].Group, applied[4].Group);
        Assert.Equal(["EOS", "EOS", "NEU", "NEU", "EOS"], applied.Select(i => i.ClassName));
        Assert.Equal(items.Select(i => i.Group), new SuspectsKeptTogether(0, 0, 0).Apply(items).Select(i => i.Group));
    }
}
