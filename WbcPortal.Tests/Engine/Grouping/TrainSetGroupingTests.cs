using System.Globalization;
using System.Text;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>
/// Measurement harness for issue 11: the grouper on the real Kaggle TRAIN set (9,957 images of 277 originals), scored against
/// the known originals in TRAIN_sources.csv (used to measure only, never as an input). Descriptors are extracted once and the
/// dendrograms built once, so that several cuts (levers) are compared in one run. Skips when ../shared/data is absent.
/// </summary>
// Two descriptor passes over 9,957 images on every core: alone, so other tests' time limits hold beside it.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
public sealed class TrainSetGroupingTests
{
    private sealed record Truth(string SourceImage, string SameCellGroup);

    private sealed record Lever(string Name, int[] Labels);

    [Fact]
    public void Groups_the_kaggle_train_set_by_original()
    {
        string train = SharedData.RequireTrainSet();
        string csv = Path.Combine(Path.GetDirectoryName(train)!, "TRAIN_sources.csv");
        if (!File.Exists(csv)) Assert.Skip($"Needs {csv}, which is not on this machine.");
        var ct = TestContext.Current.CancellationToken;
        var log = new StringBuilder();

        var truth = ReadTruth(csv);
        var inputs = new List<GroupingInput>();
        foreach (var classDir in Directory.GetDirectories(train).OrderBy(d => d, StringComparer.Ordinal))
        {
            string className = Path.GetFileName(classDir);
            foreach (var file in Directory.GetFiles(classDir, "*.jpeg").OrderBy(f => f, StringComparer.Ordinal))
            {
                inputs.Add(new GroupingInput($"{className}/{Path.GetFileName(file)}", className, file));
            }
        }
        Assert.All(inputs, i => Assert.True(truth.ContainsKey(i.Key), $"{i.Key} missing from TRAIN_sources.csv"));

        var options = GroupingOptions.Default;
        var grouper = new SourceGrouper(options);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var features = LoadOrExtract(grouper, inputs, ct);
        double featureSeconds = watch.Elapsed.TotalSeconds;
        watch.Restart();
        var dendrogram = grouper.BuildDendrogram(inputs, features, ct);
        double dendrogramSeconds = watch.Elapsed.TotalSeconds;
        log.AppendLine(CultureInfo.InvariantCulture, $"{inputs.Count} images: descriptors {featureSeconds:F1} s, dendrograms {dendrogramSeconds:F1} s");

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Count; i++) index[inputs[i].Key] = i;
        int[] Labels(GroupingResult result)
        {
            var labels = new int[inputs.Count];
            foreach (var g in result.Groups) foreach (var k in g.Keys) labels[index[k]] = g.Id;
            return labels;
        }
        int[] Cut(GroupingOptions o) => Labels(dendrogram.Cut(o.MergeDistance, 0, o.FragmentSize, o.AbsorbDistance, o.FragmentFraction, o.SameCellDistance));

        var sourceIds = Ids(inputs.Select(i => truth[i.Key].SourceImage).ToList());
        var cellIds = Ids(inputs.Select(i => truth[i.Key].SameCellGroup).ToList());

        var product = Labels(grouper.GroupFeatures(inputs, features, ct));
        var levers = new List<Lever> { new("product defaults", product) };
        bool explore = Environment.GetEnvironmentVariable("WBC_GROUPING_EXPLORE") == "1";
        if (explore)
        {
            var baseline = Cut(options);
            var old = options with { WhiteBalance = 0 };
            var oldGrouper = new SourceGrouper(old);
            levers.Add(new("white balance 0", Labels(oldGrouper.GroupFeatures(inputs, LoadOrExtract(oldGrouper, inputs, ct), ct))));
            levers.Add(new("no absorb", Cut(options with { FragmentSize = 0 })));
            foreach (double m in new[] { 1.5, 1.6, 1.8, 2.0 }) levers.Add(new($"merge {m}", Cut(options with { MergeDistance = m })));
            foreach (double s in new[] { 1.6, 1.8, 2.0, 2.2 }) levers.Add(new($"same-cell {s}", Cut(options with { SameCellDistance = s })));
            foreach (double a in new[] { 4.0, 5.0 }) levers.Add(new($"absorb {a}", Cut(options with { AbsorbDistance = a })));
            foreach (double f in new[] { 0.5, 0.7 }) levers.Add(new($"fragment fraction {f}", Cut(options with { FragmentFraction = f })));
            foreach (double t in new[] { 0.8, 1.0, 1.2 }) levers.Add(new($"single-link {t}", SingleLink(dendrogram, baseline, t)));
            foreach (double t in new[] { 1.0, 1.2, 1.4 }) levers.Add(new($"3-link {t}", KLink(dendrogram, baseline, t, 3)));
            foreach (double t in new[] { 1.2, 1.4 }) levers.Add(new($"5-link {t}", KLink(dendrogram, baseline, t, 5)));
            var capped = options with { ShapeCap = 1.0 };
            var dc = new SourceGrouper(capped).BuildDendrogram(inputs, features, ct);
            foreach (double factor in new[] { 0.0, 2.2, 3.0 })
            {
                foreach (double margin in new[] { 0.1, 0.2, 0.3, 0.5 })
                {
                    foreach (double ceiling in new[] { 2.0, 2.5, 3.0 })
                    {
                        levers.Add(new($"cap 1, merge 1.5, doubt {margin}/{ceiling} x{factor}", Labels(dc.Cut(1.5, 0, capped.FragmentSize, capped.AbsorbDistance, capped.FragmentFraction, 0, margin, ceiling, factor))));
                    }
                }
            }
        }

        var classes = inputs.Select(i => i.ClassName).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        log.AppendLine("lever | class | originals | groups | ARI source | ARI cell | purity | frag>=1 | frag>=3 | mixed groups | cell frag>=3");
        var summaries = new Dictionary<string, Summary>();
        foreach (var lever in levers)
        {
            foreach (var cls in classes.Append("ALL"))
            {
                var members = Enumerable.Range(0, inputs.Count).Where(i => cls == "ALL" || inputs[i].ClassName == cls).ToList();
                var s = Summarise(members, lever.Labels, sourceIds, cellIds);
                if (cls == "ALL") summaries[lever.Name] = s;
                if (cls == "ALL" || lever == levers[0] || Environment.GetEnvironmentVariable("WBC_GROUPING_PER_CLASS") == lever.Name)
                {
                    log.AppendLine(CultureInfo.InvariantCulture,
                        $"{lever.Name} | {cls} | {s.Originals} | {s.Groups} | {s.AriSource:F4} | {s.AriCell:F4} | {s.Purity:F4} | {s.Fragmented1} | {s.Fragmented3} | {s.Mixed} | {s.CellFragmented3}");
                }
            }
        }
        if (explore) Diagnose(log, inputs, dendrogram, product, sourceIds, features);

        string report = log.ToString();
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        string? reportPath = Environment.GetEnvironmentVariable("WBC_GROUPING_REPORT");
        if (!string.IsNullOrEmpty(reportPath)) File.WriteAllText(reportPath, report);

        var today = summaries["product defaults"];
        Assert.True(today.AriSource >= 0.98, report);
        Assert.True(today.Fragmented3 <= 5, report);
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

    private static int[] Ids(List<string> names)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        return names.Select(n => map.TryGetValue(n, out int id) ? id : map[n] = map.Count).ToArray();
    }

    private static Dictionary<string, Truth> ReadTruth(string csv)
    {
        var result = new Dictionary<string, Truth>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int path = Array.IndexOf(header, "path"), source = Array.IndexOf(header, "source_image"), cell = Array.IndexOf(header, "same_cell_group");
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0) continue;
            var f = line.Split(',');
            result[f[path]] = new Truth(f[source], f[cell]);
        }
        return result;
    }

    /// <summary>Descriptors, extracted once per run; with WBC_GROUPING_FEATURE_CACHE set (a file path) also kept on disk between runs.</summary>
    private static float[]?[] LoadOrExtract(SourceGrouper grouper, List<GroupingInput> inputs, CancellationToken ct)
    {
        string? cache = Environment.GetEnvironmentVariable("WBC_GROUPING_FEATURE_CACHE");
        if (!string.IsNullOrEmpty(cache)) cache += $".wb{grouper.Options.WhiteBalance}";
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
