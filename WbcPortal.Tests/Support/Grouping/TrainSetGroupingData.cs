using System.Globalization;
using System.Text;
using WbcPortal.Engine.Datasets.Grouping;

namespace WbcPortal.Tests.Support.Grouping;

/// <summary>An image's known original and same-cell group; <paramref name="Inliers"/>: keypoint matches that registered it onto its
/// smear (0: no match; where the truth file then put it is a guess).</summary>
public sealed record GroupingTruth(string SourceImage, string SameCellGroup, int Inliers);

/// <summary>One way of grouping the images (a label per image), by name: a row of <see cref="GroupingTable"/>.</summary>
public sealed record GroupingLever(string Name, int[] Labels);

/// <summary>
/// One grouping of the real Kaggle TRAIN set (9,957 images of 277 originals): descriptors (kept on disk between runs when
/// WBC_GROUPING_FEATURE_CACHE names a file), the dendrograms, the product's groups at both margins, and the known originals
/// from TRAIN_sources.csv (used to measure only, never as an input). Shared by <c>TrainSetGroupingTests</c> and the
/// GroupingLab tool (<c>WbcPortal.Tests/Tools/GroupingLab</c>), which links this file.
/// </summary>
public sealed record TrainSetGroupingData(List<GroupingInput> Inputs, int[] SourceIds, int[] CellIds, float[]?[] Features, GroupingDendrogram Dendrogram,
    GroupingResult Standard, GroupingResult Cautious, int[] StandardLabels, int[] CautiousLabels, double FeatureSeconds, double GroupSeconds,
    WbcPortal.Engine.Imaging.PolarSignature?[] Signatures, int[] CautiousUnlinkedLabels, bool[] Registered)
{
    /// <summary>The truth file beside the TRAIN folder.</summary>
    public static string TruthFile(string trainFolder) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(trainFolder).TrimEnd('/'))!, "TRAIN_sources.csv");

    /// <summary>Groups every image of <paramref name="trainFolder"/> (class folders of JPEGs) as the product does, and reads the truth file beside it.</summary>
    public static TrainSetGroupingData Build(string trainFolder, CancellationToken cancellationToken = default)
    {
        var truth = ReadTruth(TruthFile(trainFolder));
        var inputs = new List<GroupingInput>();
        foreach (var classDir in Directory.GetDirectories(trainFolder).OrderBy(d => d, StringComparer.Ordinal))
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
        var features = LoadOrExtract(grouper, inputs, cancellationToken);
        double featureSeconds = watch.Elapsed.TotalSeconds;
        watch.Restart();
        var dendrogram = grouper.BuildDendrogram(inputs, features, cancellationToken);
        var standard = dendrogram.Cut(grouper.Options, GroupingMargin.Standard);
        var unlinked = dendrogram.Cut(grouper.Options, GroupingMargin.Cautious);
        var signatures = grouper.ExtractSignatures(inputs, cancellationToken: cancellationToken);
        var cautious = grouper.LinkSameCells(unlinked, inputs, signatures, cancellationToken);
        double groupSeconds = watch.Elapsed.TotalSeconds;
        var index = IndexOf(inputs);
        var sourceIds = Ids(inputs.Select(i => truth[i.Key].SourceImage).ToList());
        var cellIds = Ids(inputs.Select(i => truth[i.Key].SameCellGroup).ToList());
        return new TrainSetGroupingData(inputs, sourceIds, cellIds, features, dendrogram, standard, cautious, Labels(index, standard), Labels(index, cautious),
            featureSeconds, groupSeconds, signatures, Labels(index, unlinked), inputs.Select(i => truth[i.Key].Inliers > 0).ToArray());
    }

    /// <summary>A group label per image of <see cref="Inputs"/>, from a grouping of them.</summary>
    public int[] Labels(GroupingResult result) => Labels(IndexOf(Inputs), result);

    private static Dictionary<string, int> IndexOf(List<GroupingInput> inputs)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Count; i++) index[inputs[i].Key] = i;
        return index;
    }

    private static int[] Labels(Dictionary<string, int> index, GroupingResult result)
    {
        var labels = new int[index.Count];
        foreach (var g in result.Groups) foreach (var k in g.Keys) labels[index[k]] = g.Id;
        return labels;
    }

    /// <summary>A dense id per distinct name, in order of first appearance.</summary>
    public static int[] Ids(List<string> names)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        return names.Select(n => map.TryGetValue(n, out int id) ? id : map[n] = map.Count).ToArray();
    }

    public static Dictionary<string, GroupingTruth> ReadTruth(string csv)
    {
        var result = new Dictionary<string, GroupingTruth>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int path = Array.IndexOf(header, "path"), source = Array.IndexOf(header, "source_image"), cell = Array.IndexOf(header, "same_cell_group"),
            inliers = Array.IndexOf(header, "match_inliers");
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0) continue;
            var f = line.Split(',');
            result[f[path]] = new GroupingTruth(f[source], f[cell], inliers >= 0 && int.TryParse(f[inliers].Trim(), out int n) ? n : 99);
        }
        return result;
    }

    /// <summary>Descriptors, extracted once per run; with WBC_GROUPING_FEATURE_CACHE set (a file path) also kept on disk between runs.</summary>
    public static float[]?[] LoadOrExtract(SourceGrouper grouper, List<GroupingInput> inputs, CancellationToken cancellationToken)
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
        var features = grouper.ExtractFeatures(inputs, cancellationToken: cancellationToken);
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

/// <summary>How well a grouping (<see cref="GroupingLever"/>) matches the known originals and same-cell groups, over some images.</summary>
public sealed record GroupingSummary(int Originals, int Groups, double AriSource, double AriCell, double Purity, int Fragmented1, int Fragmented3, int Mixed, int CellFragmented3)
{
    public static GroupingSummary Of(List<int> members, int[] labels, int[] sourceIds, int[] cellIds)
    {
        var p = members.Select(i => labels[i]).ToList();
        var src = members.Select(i => sourceIds[i]).ToList();
        var cell = members.Select(i => cellIds[i]).ToList();
        var bySource = GroupingScore.Compute(p, src);
        var byCell = GroupingScore.Compute(p, cell);
        var (f1, f3) = Fragmented(p, src);
        var (_, c3) = Fragmented(p, cell);
        return new GroupingSummary(bySource.Originals, bySource.Groups, bySource.AdjustedRand, byCell.AdjustedRand, bySource.Purity, f1, f3, bySource.MergedGroups, c3);
    }

    /// <summary>Originals with at least 1 and at least 3 images outside their largest group.</summary>
    public static (int AtLeast1, int AtLeast3) Fragmented(List<int> predicted, List<int> truth)
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
}

/// <summary>The table the grouping reports print: per lever, per class (where asked) and over all images.</summary>
public static class GroupingTable
{
    /// <summary>
    /// One row per lever over all images, and per class for the levers <paramref name="perClass"/> picks or the one named
    /// <paramref name="perClassLever"/>; <paramref name="summaries"/> receives each lever's all-images summary.
    /// </summary>
    public static string Write(TrainSetGroupingData s, IEnumerable<GroupingLever> levers, Func<GroupingLever, bool> perClass, string? perClassLever,
        Dictionary<string, GroupingSummary> summaries)
    {
        var log = new StringBuilder();
        var classes = s.Inputs.Select(i => i.ClassName).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        log.AppendLine("lever | class | originals | groups | ARI source | ARI cell | purity | frag>=1 | frag>=3 | mixed groups | cell frag>=3");
        foreach (var lever in levers)
        {
            foreach (var cls in classes.Append("ALL"))
            {
                var members = Enumerable.Range(0, s.Inputs.Count).Where(i => cls == "ALL" || s.Inputs[i].ClassName == cls).ToList();
                var sum = GroupingSummary.Of(members, lever.Labels, s.SourceIds, s.CellIds);
                if (cls == "ALL") summaries[lever.Name] = sum;
                if (cls == "ALL" || perClass(lever) || perClassLever == lever.Name)
                {
                    log.AppendLine(CultureInfo.InvariantCulture,
                        $"{lever.Name} | {cls} | {sum.Originals} | {sum.Groups} | {sum.AriSource:F4} | {sum.AriCell:F4} | {sum.Purity:F4} | {sum.Fragmented1} | {sum.Fragmented3} | {sum.Mixed} | {sum.CellFragmented3}");
                }
            }
        }
        return log.ToString();
    }
}
