namespace WbcPortal.Engine.Datasets.Grouping;

/// <summary>
/// How a grouping compares with known originals. <see cref="Purity"/>: share of images whose group's majority original is
/// theirs (1 = no false merges). <see cref="Completeness"/>: share of images in the largest piece of their original
/// (1 = no splits). <see cref="SplitOriginals"/>: originals spread over more than one group. <see cref="MergedGroups"/>:
/// groups holding more than one original.
/// </summary>
public sealed record GroupingScore(double AdjustedRand, double Purity, double Completeness, int Groups, int Originals, int SplitOriginals, int MergedGroups)
{
    /// <summary>Scores predicted labels against true labels (same order; any integers).</summary>
    public static GroupingScore Compute(IReadOnlyList<int> predicted, IReadOnlyList<int> truth)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(truth);
        if (predicted.Count != truth.Count) throw new ArgumentException("same length expected", nameof(truth));
        int n = predicted.Count;
        var table = new Dictionary<(int P, int T), int>();
        var pCount = new Dictionary<int, int>();
        var tCount = new Dictionary<int, int>();
        for (int i = 0; i < n; i++)
        {
            var key = (predicted[i], truth[i]);
            table[key] = table.GetValueOrDefault(key) + 1;
            pCount[predicted[i]] = pCount.GetValueOrDefault(predicted[i]) + 1;
            tCount[truth[i]] = tCount.GetValueOrDefault(truth[i]) + 1;
        }
        static double C2(double x) => x * (x - 1) / 2;
        double sumCells = table.Values.Sum(v => C2(v));
        double sumP = pCount.Values.Sum(v => C2(v));
        double sumT = tCount.Values.Sum(v => C2(v));
        double expected = n > 1 ? sumP * sumT / C2(n) : 0;
        double max = (sumP + sumT) / 2;
        double ari = max - expected == 0 ? 1 : (sumCells - expected) / (max - expected);
        double purity = n == 0 ? 1 : (double)table.GroupBy(kv => kv.Key.P).Sum(g => g.Max(kv => kv.Value)) / n;
        double completeness = n == 0 ? 1 : (double)table.GroupBy(kv => kv.Key.T).Sum(g => g.Max(kv => kv.Value)) / n;
        int split = table.GroupBy(kv => kv.Key.T).Count(g => g.Count() > 1);
        int merged = table.GroupBy(kv => kv.Key.P).Count(g => g.Count() > 1);
        return new GroupingScore(ari, purity, completeness, pCount.Count, tCount.Count, split, merged);
    }

    /// <summary>Scores a <see cref="GroupingResult"/> against the original of each key.</summary>
    public static GroupingScore Compute(GroupingResult result, IReadOnlyDictionary<string, int> originalOfKey)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(originalOfKey);
        var predicted = new List<int>();
        var truth = new List<int>();
        foreach (var group in result.Groups)
        {
            foreach (var key in group.Keys)
            {
                predicted.Add(group.Id);
                truth.Add(originalOfKey[key]);
            }
        }
        return Compute(predicted, truth);
    }

    public override string ToString() =>
        $"ARI {AdjustedRand:F4}, purity {Purity:F4}, completeness {Completeness:F4}, groups {Groups} vs originals {Originals}, split originals {SplitOriginals}, merged groups {MergedGroups}";
}
