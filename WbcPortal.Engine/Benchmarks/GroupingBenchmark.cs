using System.Diagnostics;
using WbcPortal.Engine.Datasets.Grouping;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// Source grouping of the real Kaggle TRAIN set (found through <see cref="BenchData"/>): wall time and images/s with
/// the given <see cref="GroupingOptions"/>, and the groups found per class beside the known originals
/// (EOS 75, LYM 27, MON 16, NEU 159).
/// </summary>
public sealed class GroupingBenchmark(GroupingOptions options, BenchData data) : IBenchmark
{
    private static readonly IReadOnlyDictionary<string, int> KnownOriginals = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["EOSINOPHIL"] = 75, ["LYMPHOCYTE"] = 27, ["MONOCYTE"] = 16, ["NEUTROPHIL"] = 159,
    };

    public string Name => "grouping";
    public string Description => "Source grouping of the Kaggle TRAIN set (9,957 images): seconds, img/s, groups found vs 277 originals";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        string train = data.RequireTrainSet();
        var inputs = new List<GroupingInput>();
        foreach (var classDir in Directory.GetDirectories(train).OrderBy(d => d, StringComparer.Ordinal))
        {
            string className = Path.GetFileName(classDir);
            foreach (var file in Directory.GetFiles(classDir).Where(f => f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).OrderBy(f => f, StringComparer.Ordinal))
            {
                inputs.Add(new GroupingInput($"{className}/{Path.GetFileName(file)}", className, file));
            }
        }
        progress?.Report($"grouping {inputs.Count} images");
        var grouper = new SourceGrouper(options);
        int lastPercent = -10;
        var report = new Progress<double>(p =>
        {
            int percent = (int)(p * 100);
            if (percent >= lastPercent + 10) { lastPercent = percent; progress?.Report($"grouping {percent}%"); }
        });
        var watch = Stopwatch.StartNew();
        var result = grouper.Group(inputs, report, cancellationToken);
        double seconds = watch.Elapsed.TotalSeconds;

        var classOf = inputs.ToDictionary(i => i.Key, i => i.ClassName, StringComparer.Ordinal);
        var perClass = result.Groups.GroupBy(g => classOf[g.Keys[0]]).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} {g.Count()} ({g.Count(x => x.Keys.Count >= 5)} of 5+ images; known {KnownOriginals.GetValueOrDefault(g.Key)})");
        return
        [
            new BenchResult("grouping.train.seconds", Math.Round(seconds, 1), "s", null, null, $"{inputs.Count} images, {Environment.ProcessorCount} cores; budget 120 s"),
            new BenchResult("grouping.train.throughput", Math.Round(inputs.Count / seconds, 1), "img/s", null, null),
            new BenchResult("grouping.train.groups", result.Groups.Count, "groups", KnownOriginals.Values.Sum(), "known originals", string.Join("; ", perClass)),
            new BenchResult("grouping.train.pairs", result.Pairs.Count, "pairs", null, null),
            .. result.Cuts.Select(c => new BenchResult($"grouping.train.groups.{c.Margin.ToString().ToLowerInvariant()}", c.Groups, "groups", KnownOriginals.Values.Sum(), "known originals",
                $"largest group {c.LargestGroup} images; grouper version {SourceGrouper.Version}")),
        ];
    }
}
