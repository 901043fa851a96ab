// GroupingLab: the source-grouping explorations, as a tool (they print figures and decide nothing, so they are not tests).
//
// Verbs (each prints its table on stdout; --report FILE also writes it to FILE):
//   levers           the product's cut of the Kaggle TRAIN set beside other settings (merge distance, shape cap, absorb, same-cell
//                    distance, single- and k-link second passes, the cautious margin's grid) against the known originals, and a
//                    diagnosis of the originals the product still cuts (--per-class LEVER adds that lever's per-class rows)
//   same-cell-links  the same-cell links (polar signatures) over both margins' cuts for a grid of distances and link counts: agreement
//                    with originals and same-cell groups, leaks of 20 grouped splits, the same-cell groups still cut
//                    (--montage FILE.png: the first two pieces of each side by side)
//   time-grouping    wall time of a whole grouping with version 2's defaults and today's
//   ablation         which part of an augmentation family unlike the Kaggle set's breaks grouping: 12 synthetic + 29 BCCD
//                    originals, 8 differently-augmented copies each, one part of the family at a time (ARI, purity, completeness)
//
// Data: the real images in ../shared/data (see its README): levers, same-cell-links and time-grouping read
// blood-cell-images/TRAIN and TRAIN_sources.csv beside it (the truth: measured against, never an input); ablation reads bccd/.
// --data DIR (or WBC_SHARED_DATA) names another folder; without the data a verb says what is missing and exits with 3.
// WBC_GROUPING_FEATURE_CACHE=FILE keeps the descriptors between runs (the extraction is most of a run: minutes on 2 cores).
//
// Build and run (not part of the test project; WbcPortal.sln builds it):
//   dotnet run --project WbcPortal.Tests/Tools/GroupingLab -c Release -- levers --report /tmp/levers.txt
//
// It links the test-only generators and the TRAIN-set grouping from WbcPortal.Tests/Support/Grouping (kept out of the Engine).
using System.Globalization;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Tests.Engine.Grouping;
using WbcPortal.Tests.Support.Grouping;

namespace WbcPortal.Tests.Tools.GroupingLab;

public static class Program
{
    private const string Usage = "usage: GroupingLab levers|same-cell-links|time-grouping|ablation [--data DIR] [--report FILE] [--per-class LEVER] [--montage FILE.png]";

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        string verb = args[0];
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] is not ("--data" or "--report" or "--per-class" or "--montage") || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"GroupingLab: unknown or incomplete option '{args[i]}'\n{Usage}");
                return 2;
            }
            options[args[i]] = args[++i];
        }
        string? data = options.GetValueOrDefault("--data") ?? SharedDataFolder();
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        var ct = cancel.Token;
        string report;
        switch (verb)
        {
            case "levers" or "same-cell-links" or "time-grouping":
            {
                string train = Path.Combine(data ?? "", "blood-cell-images", "TRAIN");
                if (data is null || !Directory.Exists(train) || !File.Exists(TrainSetGroupingData.TruthFile(train)))
                    return Missing($"the Kaggle TRAIN images and TRAIN_sources.csv in {(data is null ? "../shared/data" : Path.Combine(data, "blood-cell-images"))}");
                Console.Error.WriteLine($"grouping {train} (descriptors, dendrograms, both margins, same-cell links)...");
                var s = TrainSetGroupingData.Build(train, ct);
                Console.Error.WriteLine(FormattableString.Invariant($"{s.Inputs.Count} images: descriptors {s.FeatureSeconds:F1} s, the rest {s.GroupSeconds:F1} s"));
                report = verb switch
                {
                    "levers" => Levers(s, options.GetValueOrDefault("--per-class"), ct),
                    "same-cell-links" => SameCellLinks(s, options.GetValueOrDefault("--per-class"), options.GetValueOrDefault("--montage"), ct),
                    _ => TimeGrouping(s, ct),
                };
                break;
            }
            case "ablation":
            {
                string bccd = Path.Combine(data ?? "", "bccd");
                if (data is null || !Directory.Exists(Path.Combine(bccd, "JPEGImages"))) return Missing($"the BCCD dataset in {(data is null ? "../shared/data/bccd" : bccd)}");
                report = Ablation(bccd, ct);
                break;
            }
            default:
                Console.Error.WriteLine($"GroupingLab: unknown verb '{verb}'\n{Usage}");
                return 2;
        }
        Console.Write(report);
        if (options.TryGetValue("--report", out var file)) File.WriteAllText(file, report);
        return 0;
    }

    private static int Missing(string what)
    {
        Console.Error.WriteLine($"GroupingLab: needs {what}, which is not on this machine (see ../shared/data/README.md; --data DIR names another folder).");
        return 3;
    }

    /// <summary>WBC_SHARED_DATA, or ../shared/data beside the repository (the folder holding WbcPortal.sln) this tool runs from.</summary>
    private static string? SharedDataFolder()
    {
        var env = Environment.GetEnvironmentVariable("WBC_SHARED_DATA");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (!File.Exists(Path.Combine(dir.FullName, "WbcPortal.sln"))) continue;
                var candidate = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
                return Directory.Exists(candidate) ? candidate : null;
            }
        }
        return null;
    }

    /// <summary><c>ablation</c>: one part of the copy family at a time (12 synthetic + 29 BCCD originals, 8 copies each). Measured before
    /// it became this tool: none 0.90, rotation 0.86, shift+zoom 0.91, crop 0.95, brightness 0.83, saturation 0.95, JPEG 0.90, contrast
    /// 0.70, hue cast 0.20, all of the default 0.31 (completeness 0.41), the tests' milder family 0.88 (completeness 0.98) (ARI).</summary>
    private static string Ablation(string bccd, CancellationToken ct)
    {
        var none = new CopyAugmentation { RotationDegrees = 0, Shift = 0, Zoom = 0, Crop = 0, Brightness = 0, Contrast = 0, Saturation = 0, HueCast = 0, JpegQualityMin = 95, JpegQualityMax = 95 };
        var variants = new (string, CopyAugmentation)[]
        {
            ("none", none), ("rotation", none with { RotationDegrees = 180 }), ("shift+zoom", none with { Shift = 0.08, Zoom = 0.1 }), ("crop", none with { Crop = 0.08 }),
            ("brightness", none with { Brightness = 0.12 }), ("contrast", none with { Contrast = 0.12 }), ("saturation", none with { Saturation = 0.15 }),
            ("hue", none with { HueCast = 0.03 }), ("jpeg", none with { JpegQualityMin = 60 }), ("all", CopyAugmentation.Default),
            ("family", CopyAugmentation.Mild), ("family, rotation 20", CopyAugmentation.Mild with { RotationDegrees = 20 }),
        };
        string directory = Path.Combine(Path.GetTempPath(), "wbc-grouping-lab-" + Guid.NewGuid().ToString("N"));
        var images = Enumerable.Range(0, 12).Select(o => SyntheticSmears.Dense(seed: 200 + o)).ToList();
        var log = new StringBuilder("variant | score\n");
        try
        {
            var originals = BccdSyntheticSet.LoadOriginals(bccd).Where((_, i) => i % 12 == 0).ToList();
            images.AddRange(originals.Select(o => BccdSyntheticSet.RenderOriginal(bccd, o)));
            var list = images.Select((image, o) => new AugmentedCopySet.Original($"s{o:D2}", o < 12 ? (o % 2 == 0 ? "A" : "B") : originals[o - 12].ClassName, image)).ToList();
            foreach (var (name, v) in variants)
            {
                var (inputs, truth) = AugmentedCopySet.Generate(list, 8, seed: 5, Path.Combine(directory, name), v, cancellationToken: ct);
                var result = new SourceGrouper(GroupingOptions.Default).Group(inputs, cancellationToken: ct);
                string line = $"{name} | {GroupingScore.Compute(result, truth)}";
                Console.Error.WriteLine(line);
                log.AppendLine(line);
            }
        }
        finally
        {
            foreach (var image in images) image.Dispose();
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return log.ToString();
    }

    /// <summary><c>time-grouping</c>: wall time of a whole grouping (descriptors, dendrograms, both cuts, same-cell links) with version 2's defaults and today's, side by side.</summary>
    private static string TimeGrouping(TrainSetGroupingData s, CancellationToken ct)
    {
        var log = new StringBuilder();
        foreach (var (name, options) in new[] { ("version 2 defaults", new GroupingOptions { WhiteBalance = 0, ShapeCap = 0, MergeDistance = 1.4 }), ($"today's defaults (version {SourceGrouper.Version})", GroupingOptions.Default) })
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var result = new SourceGrouper(options).Group(s.Inputs, cancellationToken: ct);
            log.AppendLine(CultureInfo.InvariantCulture, $"{name}: {watch.Elapsed.TotalSeconds:F1} s, {result.Groups.Count} groups, {Environment.ProcessorCount} cores");
        }
        return log.ToString();
    }

    /// <summary><c>same-cell-links</c>: the same-cell links (polar signatures) over both margins' cuts, for a grid of distances and link counts: agreement
    /// with originals and same-cell groups, and leaks of 20 grouped splits by original and by same cell.</summary>
    private static string SameCellLinks(TrainSetGroupingData s, string? perClassLever, string? montage, CancellationToken ct)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var signatures = s.Signatures;
        var partitionOf = s.Inputs.Select(i => i.ClassName).ToList();
        var log = new StringBuilder();
        var levers = new List<GroupingLever> { new("standard", s.StandardLabels), new("cautious (no links)", s.CautiousUnlinkedLabels), new("product cautious", s.CautiousLabels) };
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
        var summaries = new Dictionary<string, GroupingSummary>();
        log.Append(GroupingTable.Write(s, levers, _ => false, perClassLever, summaries));
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
        return log.ToString();
    }

    /// <summary>20 grouped splits (0.8 / 0.1 / 0.1) of the given groups: seeds and counts of originals and same-cell groups on two sides.</summary>
    private static (int Seeds, int Originals, int CellSeeds, int Cells) SplitLeaks(TrainSetGroupingData s, int[] labels)
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

    /// <summary><c>levers</c>: the product's cut beside other settings and second passes, and a diagnosis of the originals it still cuts.</summary>
    private static string Levers(TrainSetGroupingData s, string? perClassLever, CancellationToken ct)
    {
        var inputs = s.Inputs;
        var features = s.Features;
        var dendrogram = s.Dendrogram;
        var options = GroupingOptions.Default;
        int[] Labels(GroupingResult result) => s.Labels(result);
        int[] Cut(GroupingOptions o) => Labels(dendrogram.Cut(o.MergeDistance, 0, o.FragmentSize, o.AbsorbDistance, o.FragmentFraction, o.SameCellDistance));
        var product = s.StandardLabels;
        var levers = new List<GroupingLever> { new("product defaults", product), new("cautious", s.CautiousLabels) };
        var baseline = Cut(options);
        var old = new GroupingOptions { WhiteBalance = 0, ShapeCap = 0, MergeDistance = 1.4 };
        var oldGrouper = new SourceGrouper(old);
        levers.Add(new("version 2 defaults (no exposure normalisation, no shape cap, merge 1.4)", Labels(oldGrouper.GroupFeatures(inputs, TrainSetGroupingData.LoadOrExtract(oldGrouper, inputs, ct), ct))));
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
        var summaries = new Dictionary<string, GroupingSummary>();
        var log = new StringBuilder(GroupingTable.Write(s, levers, l => l == levers[0], perClassLever, summaries));
        Diagnose(log, inputs, dendrogram, product, s.SourceIds, features);
        return log.ToString();
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
}
