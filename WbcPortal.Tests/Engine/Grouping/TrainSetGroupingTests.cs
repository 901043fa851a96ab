using System.Globalization;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>
/// One grouping of the real Kaggle TRAIN set (9,957 images of 277 originals), shared by the tests of <see cref="TrainSetGroupingTests"/>:
/// descriptors (kept on disk between runs when WBC_GROUPING_FEATURE_CACHE names a file), the dendrograms, the product's groups at both
/// margins, and the known originals from TRAIN_sources.csv (used to measure only, never as an input).
/// </summary>
[Trait("Category", "RealData")]
public sealed class TrainSetGrouping
{
    private readonly Lazy<State?> state = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    internal sealed record State(List<GroupingInput> Inputs, int[] SourceIds, int[] CellIds, float[]?[] Features, GroupingDendrogram Dendrogram,
        GroupingResult Standard, GroupingResult Cautious, int[] StandardLabels, int[] CautiousLabels, double FeatureSeconds, double GroupSeconds,
        WbcPortal.Engine.Imaging.PolarSignature?[] Signatures, int[] CautiousUnlinkedLabels, bool[] Registered);

    /// <summary>The grouping, or a skip with the reason when the real data are not on this machine.</summary>
    internal State Require()
    {
        string train = SharedData.RequireTrainSet();
        string csv = Path.Combine(Path.GetDirectoryName(train)!, "TRAIN_sources.csv");
        if (!File.Exists(csv)) Assert.Skip($"Needs {csv}, which is not on this machine.");
        return state.Value!;
    }

    private static State? Build()
    {
        string train = SharedData.TrainSet;
        var truth = TrainSetGroupingTests.ReadTruth(Path.Combine(Path.GetDirectoryName(train)!, "TRAIN_sources.csv"));
        var inputs = new List<GroupingInput>();
        foreach (var classDir in Directory.GetDirectories(train).OrderBy(d => d, StringComparer.Ordinal))
        {
            string className = Path.GetFileName(classDir);
            foreach (var file in Directory.GetFiles(classDir, "*.jpeg").OrderBy(f => f, StringComparer.Ordinal))
            {
                inputs.Add(new GroupingInput($"{className}/{Path.GetFileName(file)}", className, file));
            }
        }
        var missing = inputs.FirstOrDefault(i => !truth.ContainsKey(i.Key));
        if (missing is not null) throw new InvalidOperationException($"{missing.Key} missing from TRAIN_sources.csv");
        var grouper = new SourceGrouper(GroupingOptions.Default);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var features = TrainSetGroupingTests.LoadOrExtract(grouper, inputs, CancellationToken.None);
        double featureSeconds = watch.Elapsed.TotalSeconds;
        watch.Restart();
        var dendrogram = grouper.BuildDendrogram(inputs, features);
        var standard = dendrogram.Cut(grouper.Options, GroupingMargin.Standard);
        var unlinked = dendrogram.Cut(grouper.Options, GroupingMargin.Cautious);
        var signatures = grouper.ExtractSignatures(inputs);
        var cautious = grouper.LinkSameCells(unlinked, inputs, signatures);
        double groupSeconds = watch.Elapsed.TotalSeconds;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Count; i++) index[inputs[i].Key] = i;
        int[] Labels(GroupingResult result)
        {
            var labels = new int[inputs.Count];
            foreach (var g in result.Groups) foreach (var k in g.Keys) labels[index[k]] = g.Id;
            return labels;
        }
        var sourceIds = TrainSetGroupingTests.Ids(inputs.Select(i => truth[i.Key].SourceImage).ToList());
        var cellIds = TrainSetGroupingTests.Ids(inputs.Select(i => truth[i.Key].SameCellGroup).ToList());
        return new State(inputs, sourceIds, cellIds, features, dendrogram, standard, cautious, Labels(standard), Labels(cautious), featureSeconds, groupSeconds,
            signatures, Labels(unlinked), inputs.Select(i => truth[i.Key].Inliers > 0).ToArray());
    }
}

/// <summary>
/// Issue 11 on the real Kaggle TRAIN set: agreement with the known originals per class, grouped splits that keep each original on one
/// side, and (WBC_GROUPING_EXPLORE=1) the levers and a diagnosis of the originals still cut in pieces. Skips when ../shared/data is absent.
/// WBC_GROUPING_REPORT (a file) receives the report; WBC_GROUPING_PER_CLASS (a lever name) adds that lever's per-class rows.
/// </summary>
// One descriptor pass over 9,957 images on every core: alone, so other tests' time limits hold beside it.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "RealData")]
public sealed class TrainSetGroupingTests(TrainSetGrouping fixture) : IClassFixture<TrainSetGrouping>
{
    /// <summary>An image's known original and same-cell group; <paramref name="Inliers"/>: keypoint matches that registered it onto its
    /// smear (0: no match; where the truth file then put it is a guess).</summary>
    internal sealed record Truth(string SourceImage, string SameCellGroup, int Inliers);

    private sealed record Lever(string Name, int[] Labels);

    private static void Write(string report, string suffix)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        string? reportPath = Environment.GetEnvironmentVariable("WBC_GROUPING_REPORT");
        if (!string.IsNullOrEmpty(reportPath)) File.WriteAllText(reportPath + suffix, report);
    }

    private static string Table(TrainSetGrouping.State s, IEnumerable<Lever> levers, Func<Lever, bool> perClass, Dictionary<string, Summary> summaries)
    {
        var log = new StringBuilder();
        var classes = s.Inputs.Select(i => i.ClassName).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        log.AppendLine("lever | class | originals | groups | ARI source | ARI cell | purity | frag>=1 | frag>=3 | mixed groups | cell frag>=3");
        foreach (var lever in levers)
        {
            foreach (var cls in classes.Append("ALL"))
            {
                var members = Enumerable.Range(0, s.Inputs.Count).Where(i => cls == "ALL" || s.Inputs[i].ClassName == cls).ToList();
                var sum = Summarise(members, lever.Labels, s.SourceIds, s.CellIds);
                if (cls == "ALL") summaries[lever.Name] = sum;
                if (cls == "ALL" || perClass(lever) || Environment.GetEnvironmentVariable("WBC_GROUPING_PER_CLASS") == lever.Name)
                {
                    log.AppendLine(CultureInfo.InvariantCulture,
                        $"{lever.Name} | {cls} | {sum.Originals} | {sum.Groups} | {sum.AriSource:F4} | {sum.AriCell:F4} | {sum.Purity:F4} | {sum.Fragmented1} | {sum.Fragmented3} | {sum.Mixed} | {sum.CellFragmented3}");
                }
            }
        }
        return log.ToString();
    }

    [Fact]
    public void Groups_the_kaggle_train_set_by_original()
    {
        var s = fixture.Require();
        var summaries = new Dictionary<string, Summary>();
        string report = FormattableString.Invariant($"{s.Inputs.Count} images: descriptors {s.FeatureSeconds:F1} s, dendrograms, both cuts, polar signatures and links {s.GroupSeconds:F1} s (grouper version {SourceGrouper.Version})\n")
            + Table(s, [new("standard", s.StandardLabels), new("cautious without links (version 3)", s.CautiousUnlinkedLabels), new("cautious", s.CautiousLabels)], _ => true, summaries);
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

    /// <summary>Wall time of a whole grouping (descriptors, dendrograms, both cuts) with version 2's defaults and today's, side by side.</summary>
    [Fact]
    public void Times_a_whole_grouping()
    {
        if (Environment.GetEnvironmentVariable("WBC_GROUPING_TIMING") != "1") Assert.Skip("Timing only: set WBC_GROUPING_TIMING=1.");
        var s = fixture.Require();
        var log = new StringBuilder();
        foreach (var (name, options) in new[] { ("version 2 defaults", new GroupingOptions { WhiteBalance = 0, ShapeCap = 0, MergeDistance = 1.4 }), ("version 3 defaults", GroupingOptions.Default) })
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var result = new SourceGrouper(options).Group(s.Inputs, cancellationToken: TestContext.Current.CancellationToken);
            log.AppendLine(CultureInfo.InvariantCulture, $"{name}: {watch.Elapsed.TotalSeconds:F1} s, {result.Groups.Count} groups, {Environment.ProcessorCount} cores");
        }
        Write(log.ToString(), ".timing");
    }

    /// <summary>The same-cell links (polar signatures) over both margins' cuts, for a grid of distances and link counts: agreement
    /// with originals and same-cell groups, and leaks of 20 grouped splits by original and by same cell.</summary>
    [Fact]
    public void Explore_same_cell_links()
    {
        if (Environment.GetEnvironmentVariable("WBC_GROUPING_EXPLORE") != "links") Assert.Skip("Exploration only: set WBC_GROUPING_EXPLORE=links.");
        var s = fixture.Require();
        var ct = TestContext.Current.CancellationToken;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var signatures = s.Signatures;
        var partitionOf = s.Inputs.Select(i => i.ClassName).ToList();
        var log = new StringBuilder();
        var levers = new List<Lever> { new("standard", s.StandardLabels), new("cautious (no links)", s.CautiousUnlinkedLabels), new("product cautious", s.CautiousLabels) };
        foreach (var (name, labels) in new[] { ("standard", s.StandardLabels), ("cautious", s.CautiousUnlinkedLabels) })
        {
            watch.Restart();
            var links = SameCellLinker.Links(partitionOf, labels, signatures, 12, 0.3, 0, ct);
            log.AppendLine(FormattableString.Invariant($"{name}: {links.Count} links <= 0.3 in {watch.Elapsed.TotalSeconds:F1} s; of them same cell {links.Count(l => s.CellIds[l.A] == s.CellIds[l.B])}, same original {links.Count(l => s.SourceIds[l.A] == s.SourceIds[l.B])}"));
            foreach (var l in links.Where(l => s.CellIds[l.A] != s.CellIds[l.B]).OrderBy(l => l.Distance).Take(6))
            {
                log.AppendLine(FormattableString.Invariant($"  different-cell link {l.Distance:F3} {s.Inputs[l.A].Key} ~ {s.Inputs[l.B].Key}"));
            }
            foreach (double t in new[] { 0.10, 0.15, 0.20, 0.25 })
            {
                foreach (int minLinks in new[] { 1, 2, 3, 5 })
                {
                    levers.Add(new($"{name} + links {t:F2} x{minLinks}", SameCellLinker.Join(labels, links, t, minLinks)));
                }
            }
        }
        var summaries = new Dictionary<string, Summary>();
        log.Append(Table(s, levers, _ => false, summaries));
        log.AppendLine("lever | seeds with an original on 2 sides | original-seeds | seeds with a same-cell group on 2 sides | cell-seeds");
        foreach (var lever in levers)
        {
            var (seeds, originals, cellSeeds, cells) = SplitLeaks(s, lever.Labels);
            log.AppendLine(FormattableString.Invariant($"{lever.Name} | {seeds} | {originals} | {cellSeeds} | {cells}"));
        }
        // Same-cell groups the product's cautious groups still cut: the pieces, and how close they come (all pairs aligned).
        var after = s.CautiousLabels;
        var cutCells = new List<List<string>>();
        log.AppendLine("cell still cut | pieces (size, originals) | min / median polar distance of each piece to the largest");
        foreach (var cell in Enumerable.Range(0, s.Inputs.Count).GroupBy(i => s.CellIds[i]))
        {
            var pieces = cell.GroupBy(i => after[i]).OrderByDescending(g => g.Count()).ToList();
            if (pieces.Count < 2) continue;
            var line = new StringBuilder($"  {s.Inputs[cell.First()].Key}");
            foreach (var piece in pieces)
            {
                var sources = string.Join("+", piece.Select(i => s.SourceIds[i]).Distinct());
                line.Append(CultureInfo.InvariantCulture, $" | {piece.Count()} (src {sources}; group size {after.Count(x => x == piece.Key)})");
                if (piece == pieces[0]) continue;
                var d = piece.Take(20).SelectMany(a => pieces[0].Take(60).Select(b => WbcPortal.Engine.Imaging.PolarSignature.Distance(signatures[a]!, signatures[b]!))).Order().ToList();
                line.Append(CultureInfo.InvariantCulture, $" d {d[0]:F3}/{d[d.Count / 2]:F3}");
            }
            log.AppendLine(line.ToString());
            cutCells.Add(pieces.Take(2).Select(p => s.Inputs[p.First()].Path).ToList());
        }
        string? montage = Environment.GetEnvironmentVariable("WBC_GROUPING_MONTAGE");
        if (!string.IsNullOrEmpty(montage) && cutCells.Count > 0)
        {
            using var sheet = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(640, 240 * cutCells.Count);
            for (int r = 0; r < cutCells.Count; r++)
            {
                for (int c = 0; c < cutCells[r].Count; c++)
                {
                    using var tile = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(cutCells[r][c]);
                    tile.Mutate(x => x.Resize(320, 240));
                    sheet.Mutate(x => x.DrawImage(tile, new SixLabors.ImageSharp.Point(320 * c, 240 * r), 1f));
                }
            }
            sheet.SaveAsPng(montage);
        }
        Write(log.ToString(), ".links");
    }

    /// <summary>20 grouped splits (0.8 / 0.1 / 0.1) of the given groups: seeds and counts of originals and same-cell groups on two sides.</summary>
    private static (int Seeds, int Originals, int CellSeeds, int Cells) SplitLeaks(TrainSetGrouping.State s, int[] labels)
    {
        var splitter = new DatasetSplitter();
        var items = s.Inputs.Select((input, i) => new SplitItem(i, input.ClassName, labels[i], null)).ToList();
        int seeds = 0, originals = 0, cellSeeds = 0, cells = 0;
        for (int seed = 0; seed < 20; seed++)
        {
            var split = splitter.Split(items, SplitStrategy.Grouped, new SplitRatios(0.8, 0.1, 0.1), seed, [], grouped: true, false);
            var part = new string[s.Inputs.Count];
            foreach (var a in split.Assignments) part[a.Id] = a.Part;
            int Across(int[] ids) => Enumerable.Range(0, ids.Length).GroupBy(i => ids[i]).Count(g => g.Select(i => part[i]).Distinct().Count() > 1);
            int o = Across(s.SourceIds), c = Across(s.CellIds);
            if (o > 0) seeds++;
            if (c > 0) cellSeeds++;
            originals += o; cells += c;
        }
        return (seeds, originals, cellSeeds, cells);
    }

    [Fact]
    public void Explore_levers()
    {
        if (Environment.GetEnvironmentVariable("WBC_GROUPING_EXPLORE") != "1") Assert.Skip("Exploration only: set WBC_GROUPING_EXPLORE=1.");
        var s = fixture.Require();
        var ct = TestContext.Current.CancellationToken;
        var inputs = s.Inputs;
        var features = s.Features;
        var dendrogram = s.Dendrogram;
        var options = GroupingOptions.Default;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Count; i++) index[inputs[i].Key] = i;
        int[] Labels(GroupingResult result)
        {
            var labels = new int[inputs.Count];
            foreach (var g in result.Groups) foreach (var k in g.Keys) labels[index[k]] = g.Id;
            return labels;
        }
        int[] Cut(GroupingOptions o) => Labels(dendrogram.Cut(o.MergeDistance, 0, o.FragmentSize, o.AbsorbDistance, o.FragmentFraction, o.SameCellDistance));
        var product = s.StandardLabels;
        var levers = new List<Lever> { new("product defaults", product), new("cautious", s.CautiousLabels) };
        var baseline = Cut(options);
        var old = new GroupingOptions { WhiteBalance = 0, ShapeCap = 0, MergeDistance = 1.4 };
        var oldGrouper = new SourceGrouper(old);
        levers.Add(new("version 2 defaults (no exposure normalisation, no shape cap, merge 1.4)", Labels(oldGrouper.GroupFeatures(inputs, LoadOrExtract(oldGrouper, inputs, ct), ct))));
        var uncapped = options with { ShapeCap = 0 };
        var du = new SourceGrouper(uncapped).BuildDendrogram(inputs, features, ct);
        foreach (double m in new[] { 1.4, 1.5 }) levers.Add(new($"no shape cap, merge {m}", Labels(du.Cut(uncapped with { MergeDistance = m }, GroupingMargin.Standard))));
        levers.Add(new("no absorb", Cut(options with { FragmentSize = 0 })));
        foreach (double m in new[] { 1.4, 1.6, 1.8 }) levers.Add(new($"merge {m}", Cut(options with { MergeDistance = m })));
        foreach (double sc in new[] { 1.6, 1.8 }) levers.Add(new($"same-cell {sc}", Cut(options with { SameCellDistance = sc })));
        foreach (double t in new[] { 0.8, 1.0 }) levers.Add(new($"single-link {t}", SingleLink(dendrogram, baseline, t)));
        foreach (double t in new[] { 1.2, 1.4 }) levers.Add(new($"3-link {t}", KLink(dendrogram, baseline, t, 3)));
        foreach (double factor in new[] { 0.0, 3.0 })
        {
            foreach (double margin in new[] { 0.1, 0.2, 0.3, 0.5 })
            {
                foreach (double ceiling in new[] { 2.0, 2.5 })
                {
                    var o = options with { CautiousMargin = margin, CautiousCeiling = ceiling, CautiousSizeFactor = factor };
                    levers.Add(new($"cautious {margin}/{ceiling} x{factor}", Labels(dendrogram.Cut(o, GroupingMargin.Cautious))));
                }
            }
        }
        var summaries = new Dictionary<string, Summary>();
        var log = new StringBuilder(Table(s, levers, l => l == levers[0], summaries));
        Diagnose(log, inputs, dendrogram, product, s.SourceIds, features);
        Write(log.ToString(), ".explore");
    }

    private sealed record Summary(int Originals, int Groups, double AriSource, double AriCell, double Purity, int Fragmented1, int Fragmented3, int Mixed, int CellFragmented3);

    private static Summary Summarise(List<int> members, int[] labels, int[] sourceIds, int[] cellIds)
    {
        var p = members.Select(i => labels[i]).ToList();
        var src = members.Select(i => sourceIds[i]).ToList();
        var cell = members.Select(i => cellIds[i]).ToList();
        var bySource = GroupingScore.Compute(p, src);
        var byCell = GroupingScore.Compute(p, cell);
        var (f1, f3) = Fragmented(p, src);
        var (_, c3) = Fragmented(p, cell);
        return new Summary(bySource.Originals, bySource.Groups, bySource.AdjustedRand, byCell.AdjustedRand, bySource.Purity, f1, f3, bySource.MergedGroups, c3);
    }

    /// <summary>Originals with at least 1 and at least 3 images outside their largest group.</summary>
    private static (int AtLeast1, int AtLeast3) Fragmented(List<int> predicted, List<int> truth)
    {
        int a1 = 0, a3 = 0;
        foreach (var original in Enumerable.Range(0, truth.Count).GroupBy(i => truth[i]))
        {
            int total = original.Count();
            int largest = original.GroupBy(i => predicted[i]).Max(g => g.Count());
            if (total - largest >= 1) a1++;
            if (total - largest >= 3) a3++;
        }
        return (a1, a3);
    }

    /// <summary>Second pass: groups of one partition whose closest members are within <paramref name="t"/> are joined.</summary>
    private static int[] SingleLink(GroupingDendrogram dendrogram, int[] labels, double t) => KLink(dendrogram, labels, t, 1);

    /// <summary>Second pass: groups joined when at least <paramref name="k"/> cross pairs are within <paramref name="t"/>.</summary>
    private static int[] KLink(GroupingDendrogram dendrogram, int[] labels, double t, int k)
    {
        var uf = new UnionFind(labels.Length);
        var first = new Dictionary<int, int>();
        for (int i = 0; i < labels.Length; i++) uf.Union(i, first.TryGetValue(labels[i], out int f) ? f : first[labels[i]] = i);
        foreach (var part in dendrogram.Partitions)
        {
            int m = part.Members.Length;
            var counts = new Dictionary<(int, int), int>();
            for (int a = 0; a < m; a++)
            {
                int la = labels[part.Members[a]];
                for (int b = a + 1; b < m; b++)
                {
                    int lb = labels[part.Members[b]];
                    if (la == lb || part.Distances[AverageLinkage.Index(m, a, b)] > t) continue;
                    var key = la < lb ? (la, lb) : (lb, la);
                    int c = counts.GetValueOrDefault(key) + 1;
                    counts[key] = c;
                    if (c == k) uf.Union(part.Members[a], part.Members[b]);
                }
            }
        }
        var result = new int[labels.Length];
        for (int i = 0; i < labels.Length; i++) result[i] = uf.Find(i);
        return result;
    }

    /// <summary>For each original cut with 3+ images outside its largest piece: the pieces, their mean / min distance to the largest piece,
    /// and the mean distance of each piece to its nearest group of another original (is a threshold between them?).</summary>
    private static void Diagnose(StringBuilder log, List<GroupingInput> inputs, GroupingDendrogram dendrogram, int[] labels, int[] sourceIds, float[]?[] features)
    {
        int dim = CellDescriptor.Dimensions;
        var sd = new double[dim];
        var mu = new double[dim];
        int cnt = features.Count(f => f is not null);
        foreach (var f in features) if (f is not null) for (int k = 0; k < dim; k++) mu[k] += f[k] / cnt;
        foreach (var f in features) if (f is not null) for (int k = 0; k < dim; k++) sd[k] += (f[k] - mu[k]) * (f[k] - mu[k]) / cnt;
        for (int k = 0; k < dim; k++) sd[k] = Math.Sqrt(sd[k]) + 1e-9;
        string BlockGaps(GroupingDendrogram.Partition part, List<int> a, List<int> b)
        {
            var parts = new List<string>();
            foreach (var (name, start, length) in CellDescriptor.Blocks)
            {
                double ss = 0;
                for (int k = start; k < start + length; k++)
                {
                    double ma = a.Average(x => features[part.Members[x]]![k]), mb = b.Average(x => features[part.Members[x]]![k]);
                    ss += (ma - mb) * (ma - mb) / (sd[k] * sd[k]);
                }
                parts.Add(FormattableString.Invariant($"{name} {Math.Sqrt(ss / length):F2}"));
            }
            return string.Join(" ", parts);
        }
        log.AppendLine("fragment diagnosis: class | original size | piece size (own/majority) | mean to own largest | min to own largest | mean to nearest other group | min to nearest other group");
        foreach (var part in dendrogram.Partitions)
        {
            int m = part.Members.Length;
            var local = Enumerable.Range(0, m).GroupBy(a => labels[part.Members[a]]).ToDictionary(g => g.Key, g => g.ToList());
            foreach (var original in Enumerable.Range(0, m).GroupBy(a => sourceIds[part.Members[a]]))
            {
                var pieces = original.GroupBy(a => labels[part.Members[a]]).OrderByDescending(g => g.Count()).ToList();
                int outside = original.Count() - pieces[0].Count();
                if (outside < 1) continue;
                var largest = local[pieces[0].Key];
                foreach (var piece in pieces.Skip(1))
                {
                    var group = local[piece.Key];
                    var (meanOwn, minOwn) = Between(part, group, largest);
                    double bestMean = double.PositiveInfinity, bestMin = double.PositiveInfinity;
                    foreach (var other in local)
                    {
                        if (other.Key == piece.Key || other.Key == pieces[0].Key) continue;
                        int majority = other.Value.GroupBy(a => sourceIds[part.Members[a]]).OrderByDescending(g => g.Count()).First().Key;
                        if (majority == original.Key) continue;
                        var (mean, min) = Between(part, group, other.Value);
                        bestMean = Math.Min(bestMean, mean);
                        bestMin = Math.Min(bestMin, min);
                    }
                    log.AppendLine(CultureInfo.InvariantCulture,
                        $"  {inputs[part.Members[0]].ClassName} | {original.Count()} | {piece.Count()}/{group.Count} | {meanOwn:F2} | {minOwn:F2} | {bestMean:F2} | {bestMin:F2} | z-gap {BlockGaps(part, piece.ToList(), largest.Where(x => sourceIds[part.Members[x]] == original.Key).ToList())} | piece {inputs[part.Members[piece.First()]].Key} own {inputs[part.Members[pieces[0].First()]].Key}");
                }
            }
        }
    }

    private static (double Mean, double Min) Between(GroupingDendrogram.Partition part, List<int> a, List<int> b)
    {
        int m = part.Members.Length;
        double sum = 0, min = double.PositiveInfinity;
        foreach (int x in a)
        {
            foreach (int y in b)
            {
                double d = part.Distances[AverageLinkage.Index(m, x, y)];
                sum += d;
                min = Math.Min(min, d);
            }
        }
        return (sum / (a.Count * b.Count), min);
    }

    internal static int[] Ids(List<string> names)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        return names.Select(n => map.TryGetValue(n, out int id) ? id : map[n] = map.Count).ToArray();
    }

    internal static Dictionary<string, Truth> ReadTruth(string csv)
    {
        var result = new Dictionary<string, Truth>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int path = Array.IndexOf(header, "path"), source = Array.IndexOf(header, "source_image"), cell = Array.IndexOf(header, "same_cell_group"),
            inliers = Array.IndexOf(header, "match_inliers");
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0) continue;
            var f = line.Split(',');
            result[f[path]] = new Truth(f[source], f[cell], inliers >= 0 && int.TryParse(f[inliers].Trim(), out int n) ? n : 99);
        }
        return result;
    }

    /// <summary>Descriptors, extracted once per run; with WBC_GROUPING_FEATURE_CACHE set (a file path) also kept on disk between runs.</summary>
    internal static float[]?[] LoadOrExtract(SourceGrouper grouper, List<GroupingInput> inputs, CancellationToken ct)
    {
        string? cache = Environment.GetEnvironmentVariable("WBC_GROUPING_FEATURE_CACHE");
        if (!string.IsNullOrEmpty(cache)) cache += $".v{SourceGrouper.Version}.wb{grouper.Options.WhiteBalance}";
        if (!string.IsNullOrEmpty(cache) && File.Exists(cache))
        {
            using var reader = new BinaryReader(File.OpenRead(cache));
            int n = reader.ReadInt32(), dim = reader.ReadInt32();
            if (n == inputs.Count && dim == CellDescriptor.Dimensions)
            {
                var loaded = new float[]?[n];
                for (int i = 0; i < n; i++)
                {
                    if (!reader.ReadBoolean()) continue;
                    var f = new float[dim];
                    for (int k = 0; k < dim; k++) f[k] = reader.ReadSingle();
                    loaded[i] = f;
                }
                return loaded;
            }
        }
        var features = grouper.ExtractFeatures(inputs, cancellationToken: ct);
        if (!string.IsNullOrEmpty(cache))
        {
            using var writer = new BinaryWriter(File.Create(cache));
            writer.Write(inputs.Count);
            writer.Write(CellDescriptor.Dimensions);
            foreach (var f in features)
            {
                writer.Write(f is not null);
                if (f is not null) foreach (float v in f) writer.Write(v);
            }
        }
        return features;
    }
}
