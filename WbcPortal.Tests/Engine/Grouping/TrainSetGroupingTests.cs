using System.Globalization;
using System.Text;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Tests.Support;
using WbcPortal.Tests.Support.Grouping;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>
/// One grouping of the real Kaggle TRAIN set (<see cref="TrainSetGroupingData"/>), shared by the tests of <see cref="TrainSetGroupingTests"/>;
/// built once, on first use.
/// </summary>
[Trait("Category", "RealData")]
public sealed class TrainSetGrouping
{
    private readonly Lazy<TrainSetGroupingData> state = new(() => TrainSetGroupingData.Build(SharedData.TrainSet), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The grouping, or a skip with the reason when the real data are not on this machine.</summary>
    internal TrainSetGroupingData Require()
    {
        string train = SharedData.RequireTrainSet();
        string csv = TrainSetGroupingData.TruthFile(train);
        if (!File.Exists(csv)) Assert.Skip($"Needs {csv}, which is not on this machine.");
        return state.Value;
    }
}

/// <summary>
/// Issue 11 on the real Kaggle TRAIN set: agreement with the known originals per class, and grouped splits that keep each original on one
/// side. Skips when ../shared/data is absent. WBC_GROUPING_REPORT (a file) receives the report; WBC_GROUPING_PER_CLASS (a lever name) adds
/// that lever's per-class rows. The explorations that used to sit here (the levers, the same-cell links, the timing, the copies' ablation)
/// are the GroupingLab tool: <c>WbcPortal.Tests/Tools/GroupingLab</c>.
/// </summary>
// One descriptor pass over 9,957 images on every core: alone, so other tests' time limits hold beside it.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "RealData")]
// Over 30 s where the real data are present (a descriptor or signature pass over 9,957 images): kept out of the fast runs.
[Trait("Category", "Slow")]
public sealed class TrainSetGroupingTests(TrainSetGrouping fixture) : IClassFixture<TrainSetGrouping>
{
    private static void Write(string report, string suffix)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        string? reportPath = Environment.GetEnvironmentVariable("WBC_GROUPING_REPORT");
        if (!string.IsNullOrEmpty(reportPath)) File.WriteAllText(reportPath + suffix, report);
    }

    [Fact]
    public void Groups_the_kaggle_train_set_by_original()
    {
        var s = fixture.Require();
        var summaries = new Dictionary<string, GroupingSummary>();
        string report = FormattableString.Invariant($"{s.Inputs.Count} images: descriptors {s.FeatureSeconds:F1} s, dendrograms, both cuts, polar signatures and links {s.GroupSeconds:F1} s (grouper version {SourceGrouper.Version})\n")
            + GroupingTable.Write(s, [new("standard", s.StandardLabels), new("cautious without links (version 3)", s.CautiousUnlinkedLabels), new("cautious", s.CautiousLabels)], _ => true,
                Environment.GetEnvironmentVariable("WBC_GROUPING_PER_CLASS"), summaries);
        Write(report, "");

        // Issue 11 targets: ARI >= 0.98 (source image or same cell) and no original with 3+ images outside its largest group.
        // Standard, measured: ARI 0.985 / 0.931, purity 0.986, 8 originals split, 3 by 3+ images, 9 mixed groups.
        // Cautious (version 4, with same-cell links), measured: ARI 0.879 / 0.862, purity 0.893, 1 original split (by 2 images of
        // BloodImage_00083 that show _00281's monocyte), 23 mixed groups, 7 same-cell groups cut by 3+ images (version 3: 14; 3 of
        // the 7 span two class folders, which within-class groups cannot join; the others match poorly once aligned: cells cut by the frame).
        var standard = summaries["standard"];
        Assert.True(standard.AriSource >= 0.98 || standard.AriCell >= 0.98, report);
        Assert.True(standard.Purity >= 0.98, report);
        Assert.True(standard.Fragmented3 <= 3, report);
        var cautious = summaries["cautious"];
        Assert.Equal(0, cautious.Fragmented3);
        Assert.True(cautious.Fragmented1 <= 1, report);
        Assert.True(cautious.AriSource >= 0.85, report);
        Assert.True(cautious.CellFragmented3 <= 8, report);
    }

    [Fact]
    public void Grouped_splits_keep_each_original_on_one_side()
    {
        var s = fixture.Require();
        var splitter = new DatasetSplitter();
        var log = new StringBuilder("margin | seed | originals on 2+ sides | same-cell groups on 2+ sides | images of those originals off their main side | originals on 2+ sides, registered images only\n");
        var leaks = new Dictionary<GroupingMargin, (int Seeds, int Originals, int Cells, int RegisteredSeeds)>();
        foreach (var (margin, result, labels) in new[] { (GroupingMargin.Standard, s.Standard, s.StandardLabels), (GroupingMargin.Cautious, s.Cautious, s.CautiousLabels) })
        {
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < s.Inputs.Count; i++) index[s.Inputs[i].Key] = i;
            var items = s.Inputs.Select((input, i) => new SplitItem(i, input.ClassName, labels[i], null)).ToList();
            var pairs = result.Pairs.Select(p => (index[p.A], index[p.B])).ToList();
            int seedsLeaking = 0, originalsTotal = 0, cellsTotal = 0, registeredSeeds = 0;
            for (int seed = 0; seed < 20; seed++)
            {
                var split = splitter.Split(items, SplitStrategy.Grouped, new SplitRatios(0.8, 0.1, 0.1), seed, pairs, grouped: true, false);
                var part = new string[s.Inputs.Count];
                foreach (var a in split.Assignments) part[a.Id] = a.Part;
                int Across(int[] ids, out int off)
                {
                    int count = 0; off = 0;
                    foreach (var original in Enumerable.Range(0, ids.Length).GroupBy(i => ids[i]))
                    {
                        var sides = original.GroupBy(i => part[i]).OrderByDescending(g => g.Count()).ToList();
                        if (sides.Count > 1) { count++; off += original.Count() - sides[0].Count(); }
                    }
                    return count;
                }
                int originals = Across(s.SourceIds, out int offImages), cells = Across(s.CellIds, out _);
                // The same, over the images the truth file registered onto their smear (it placed 21 with no keypoint match).
                int registered = Enumerable.Range(0, s.Inputs.Count).Where(i => s.Registered[i]).GroupBy(i => s.SourceIds[i])
                    .Count(g => g.Select(i => part[i]).Distinct().Count() > 1);
                if (originals > 0) seedsLeaking++;
                if (registered > 0) registeredSeeds++;
                originalsTotal += originals; cellsTotal += cells;
                log.AppendLine(CultureInfo.InvariantCulture, $"{margin} | {seed} | {originals} | {cells} | {offImages} | {registered}");
            }
            leaks[margin] = (seedsLeaking, originalsTotal, cellsTotal, registeredSeeds);
            log.AppendLine(CultureInfo.InvariantCulture, $"{margin}: {seedsLeaking} of 20 seeds put an original on two sides; {originalsTotal} original-seeds, {cellsTotal} same-cell-group-seeds in all; {registeredSeeds} seeds counting registered images only");
        }
        // What the split page would show for seed 42: the independent leak check's suspect pairs, version 3's cautious groups against
        // version 4's (the same signatures; the check's own threshold and candidates).
        var checker = new WbcPortal.Engine.Datasets.Splitting.LeakCheck.LeakChecker(WbcPortal.Engine.Datasets.Splitting.LeakCheck.LeakCheckOptions.Default);
        var suspects = new Dictionary<string, int>();
        foreach (var (name, labels) in new[] { ("cautious v3 (no links)", s.CautiousUnlinkedLabels), ("cautious v4", s.CautiousLabels) })
        {
            var items = s.Inputs.Select((input, i) => new SplitItem(i, input.ClassName, labels[i], null)).ToList();
            var split = splitter.Split(items, SplitStrategy.Grouped, new SplitRatios(0.8, 0.1, 0.1), 42, [], grouped: true, false);
            var part = new string[s.Inputs.Count];
            foreach (var a in split.Assignments) part[a.Id] = a.Part;
            var inputs = s.Inputs.Select((input, i) => new WbcPortal.Engine.Datasets.Splitting.LeakCheck.LeakCheckInput(i, part[i], input.Path)).ToList();
            var found = checker.Search(inputs, s.Signatures, checker.Options.Threshold, cancellationToken: TestContext.Current.CancellationToken);
            int sameCell = found.Count(p => s.CellIds[p.A] == s.CellIds[p.B]);
            suspects[name] = found.Count;
            log.AppendLine(CultureInfo.InvariantCulture, $"seed 42, {name}: leak check {found.Count} suspect pairs ({sameCell} of one same-cell group by the truth file), {found.SelectMany(p => new[] { p.A, p.B }).Where(i => part[i] != SplitParts.Train).Distinct().Count()} held-out images flagged");
        }
        // Over the 20 seeds: how many cautious splits the check finds leak-free (what the split page then says).
        int leakFree = 0, pairsTotal = 0, leakFreeKept = 0, cellsKept = 0;
        {
            var items = s.Inputs.Select((input, i) => new SplitItem(i, input.ClassName, s.CautiousLabels[i], null)).ToList();
            for (int seed = 0; seed < 20; seed++)
            {
                var split = splitter.Split(items, SplitStrategy.Grouped, new SplitRatios(0.8, 0.1, 0.1), seed, [], grouped: true, false);
                var part = new string[s.Inputs.Count];
                foreach (var a in split.Assignments) part[a.Id] = a.Part;
                var inputs = s.Inputs.Select((input, i) => new WbcPortal.Engine.Datasets.Splitting.LeakCheck.LeakCheckInput(i, part[i], input.Path)).ToList();
                var pairs = checker.Search(inputs, s.Signatures, checker.Options.Threshold, cancellationToken: TestContext.Current.CancellationToken);
                int found = pairs.Count;
                if (found == 0) leakFree++;
                pairsTotal += found;
                var sources = pairs.SelectMany(p => new[] { s.Inputs[p.A].ClassName + "/" + s.SourceIds[p.A], s.Inputs[p.B].ClassName + "/" + s.SourceIds[p.B] }).Distinct().Order();
                log.AppendLine(CultureInfo.InvariantCulture, $"  seed {seed}: {found} suspect pairs, {pairs.Count(p => s.CellIds[p.A] == s.CellIds[p.B])} within one same-cell group, {pairs.Count(p => s.SourceIds[p.A] == s.SourceIds[p.B])} within one original; originals {string.Join(" ", sources)}");
                // What the product stores by default: the suspect pairs kept together and the split drawn again.
                var (kept, left, how) = new WbcPortal.Engine.Datasets.Splitting.LeakCheck.SuspectPairJoiner(splitter, checker)
                    .KeepTogether(items, inputs, s.Signatures, split, pairs, new SplitRatios(0.8, 0.1, 0.1), seed, [], TestContext.Current.CancellationToken);
                var keptPart = new string[s.Inputs.Count];
                foreach (var a in kept.Assignments) keptPart[a.Id] = a.Part;
                int AcrossKept(int[] ids) => Enumerable.Range(0, ids.Length).GroupBy(i => ids[i]).Count(g => g.Select(i => keptPart[i]).Distinct().Count() > 1);
                if (left.Count == 0) leakFreeKept++;
                cellsKept += AcrossKept(s.CellIds);
                if (found > 0)
                {
                    log.AppendLine(CultureInfo.InvariantCulture, $"    kept together: {how.Rounds} draw(s), {how.GroupsJoined} join(s), {left.Count} pairs left{(how.Stopped is { } why ? " (" + why + ")" : "")}; originals on two sides {AcrossKept(s.SourceIds)}, same-cell groups {AcrossKept(s.CellIds)}; class-share gap {kept.Report.MaxClassShareDeviation:P1}; val/test images {kept.Assignments.Count(a => a.Part == SplitParts.Val)}/{kept.Assignments.Count(a => a.Part == SplitParts.Test)}");
                }
            }
            log.AppendLine(CultureInfo.InvariantCulture, $"cautious v4, 20 seeds: {leakFree} leak-free by the check, {pairsTotal} suspect pairs in all; with suspects kept together (the default): {leakFreeKept} leak-free, {cellsKept} same-cell-group-seeds on two sides");
        }
        string report = log.ToString();
        Write(report, ".splits");
        // Measured: seed 42 gives 1,460 suspect pairs with version 3's cautious groups (as the portal showed), 0 with version 4's.
        Assert.True(suspects["cautious v4"] <= suspects["cautious v3 (no links)"], report);
        Assert.True(leakFreeKept >= leakFree, report);
        // Measured: see the report of issue 11. Standard cuts 8 originals, so some seeds leak; the cautious margin keeps all but one image.
        Assert.True(leaks[GroupingMargin.Cautious].Originals <= leaks[GroupingMargin.Standard].Originals, report);
        Assert.True(leaks[GroupingMargin.Cautious].Originals <= 20, report);
        // Same-cell groups on two sides, over the 20 seeds: standard 173, cautious without links (version 3) 117, with links 51.
        Assert.True(leaks[GroupingMargin.Cautious].Cells <= 60, report);
        // The one original the cautious groups still put on two sides (10 of 20 seeds) is BloodImage_00083, by its two images the
        // truth file could not register (MONOCYTE/_2_8862 and _4_367, 0 keypoint inliers): side by side they show _00281's monocyte,
        // and the grouper keeps them with _00281's copies. Over the registered images, no seed puts an original on two sides.
        Assert.Equal(0, leaks[GroupingMargin.Cautious].RegisteredSeeds);
    }
}
