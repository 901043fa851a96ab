namespace WbcPortal.Engine.Datasets.Grouping;

/// <summary>
/// Average-linkage dendrograms of a grouping run, one per partition (class), kept so that groups can be cut at any
/// threshold without recomputing descriptors or distances.
/// </summary>
public sealed class GroupingDendrogram
{
    /// <summary>One partition: input indices of its members, its merges (member-local indices), its condensed distances.</summary>
    public sealed record Partition(int[] Members, IReadOnlyList<Merge> Merges, float[] Distances);

    private readonly IReadOnlyList<GroupingInput> images;

    internal GroupingDendrogram(IReadOnlyList<GroupingInput> images, IReadOnlyList<Partition> partitions)
    {
        this.images = images;
        Partitions = partitions;
    }

    public IReadOnlyList<Partition> Partitions { get; }

    /// <summary>Groups at <paramref name="threshold"/> (merges at or below it), with up to <paramref name="pairsPerImage"/> in-group nearest-neighbour pairs per image.
    /// Then each fragment smaller than <paramref name="fragmentSize"/> joins the larger group with the smallest mean distance to it when that is
    /// below <paramref name="absorbDistance"/> (augmented copies whose cell was pushed out of frame drift away from their siblings).
    /// A positive <paramref name="sameCellDistance"/> above <paramref name="threshold"/> is a second, looser level: groups that the dendrogram
    /// joins at or below it are merged too (different originals showing the same cell).</summary>
    public GroupingResult Cut(double threshold, int pairsPerImage = 3, int fragmentSize = 0, double absorbDistance = 0, double fragmentFraction = 0, double sameCellDistance = 0)
        => Cut(threshold, pairsPerImage, fragmentSize, absorbDistance, fragmentFraction, sameCellDistance, 0, 0);

    /// <summary>The groups <paramref name="options"/> ask for, at <paramref name="margin"/>.</summary>
    public GroupingResult Cut(GroupingOptions options, GroupingMargin margin)
    {
        ArgumentNullException.ThrowIfNull(options);
        bool cautious = margin == GroupingMargin.Cautious;
        return Cut(options.MergeDistance, options.PairsPerImage, options.FragmentSize, options.AbsorbDistance, options.FragmentFraction, options.SameCellDistance,
            cautious ? options.CautiousMargin : 0, options.CautiousCeiling, options.CautiousSizeFactor) with { Margin = margin };
    }

    /// <summary>As above; then, with a positive <paramref name="doubtMargin"/>, two groups are joined when an image of one is, on average,
    /// within <paramref name="doubtMargin"/> of the other as of its own group (and within <paramref name="doubtCeiling"/> of it): the
    /// image could belong to either, and a split that separates copies of one original leaks, while one that keeps two originals
    /// together costs little.</summary>
    public GroupingResult Cut(double threshold, int pairsPerImage, int fragmentSize, double absorbDistance, double fragmentFraction, double sameCellDistance, double doubtMargin, double doubtCeiling, double doubtSizeFactor = 0)
    {
        var uf = new UnionFind(images.Count);
        var pairs = new List<NearDuplicatePair>();
        foreach (var part in Partitions)
        {
            int m = part.Members.Length;
            var local = new UnionFind(m);
            foreach (var merge in part.Merges)
            {
                if (merge.Distance <= threshold) local.Union(merge.A, merge.B);
            }
            if (fragmentSize > 1 && absorbDistance > 0) Absorb(part, local, fragmentSize, absorbDistance, fragmentFraction);
            if (sameCellDistance > threshold)
            {
                foreach (var merge in part.Merges)
                {
                    if (merge.Distance <= sameCellDistance) local.Union(merge.A, merge.B);
                }
            }
            if (doubtMargin > 0) JoinDoubtful(part, local, doubtMargin, doubtCeiling > 0 ? doubtCeiling : double.PositiveInfinity, doubtSizeFactor);
            for (int a = 0; a < m; a++) uf.Union(part.Members[a], part.Members[local.Find(a)]);
            AddPairs(part, local, pairsPerImage, pairs);
        }
        return Build(uf, pairs);
    }

    private static void Absorb(Partition part, UnionFind local, int fragmentSize, double absorbDistance, double fragmentFraction)
    {
        int m = part.Members.Length;
        var byRoot = new Dictionary<int, List<int>>();
        for (int a = 0; a < m; a++)
        {
            int r = local.Find(a);
            if (!byRoot.TryGetValue(r, out var list)) byRoot[r] = list = [];
            list.Add(a);
        }
        if (fragmentFraction > 0)
        {
            var sizes = byRoot.Values.Select(v => v.Count).Where(c => c >= fragmentSize).OrderBy(c => c).ToList();
            if (sizes.Count > 0) fragmentSize = Math.Max(fragmentSize, (int)Math.Ceiling(fragmentFraction * sizes[sizes.Count / 2]));
        }
        var large = byRoot.Where(kv => kv.Value.Count >= fragmentSize).OrderBy(kv => kv.Key).ToList();
        if (large.Count == 0) return;
        var sums = new double[large.Count];
        var joins = new List<(int Fragment, int Target)>();
        foreach (var fragment in byRoot.Where(kv => kv.Value.Count < fragmentSize).OrderBy(kv => kv.Key).ToList())
        {
            double best = double.PositiveInfinity; int target = -1;
            for (int g = 0; g < large.Count; g++)
            {
                double sum = 0;
                foreach (int a in fragment.Value)
                {
                    foreach (int b in large[g].Value) sum += part.Distances[AverageLinkage.Index(m, a, b)];
                }
                double mean = sum / (fragment.Value.Count * large[g].Value.Count);
                if (mean < best) { best = mean; target = large[g].Key; }
            }
            if (best <= absorbDistance) joins.Add((fragment.Key, target));
        }
        // Decided against the groups as cut, then applied, so the order of fragments does not matter.
        foreach (var (fragment, target) in joins) local.Union(fragment, target);
    }

    private static void JoinDoubtful(Partition part, UnionFind local, double margin, double ceiling, double maxSizeFactor)
    {
        int m = part.Members.Length;
        var roots = new Dictionary<int, int>();
        var groupOf = new int[m];
        for (int a = 0; a < m; a++)
        {
            int r = local.Find(a);
            if (!roots.TryGetValue(r, out int g)) roots[r] = g = roots.Count;
            groupOf[a] = g;
        }
        int groups = roots.Count;
        if (groups < 2) return;
        var size = new int[groups];
        foreach (int g in groupOf) size[g]++;
        var rootOf = new int[groups];
        foreach (var (r, g) in roots) rootOf[g] = r;
        var joins = new List<(double Doubt, int A, int B)>();
        var sums = new double[groups];
        for (int a = 0; a < m; a++)
        {
            Array.Clear(sums);
            for (int b = 0; b < m; b++)
            {
                if (b != a) sums[groupOf[b]] += part.Distances[AverageLinkage.Index(m, a, b)];
            }
            int own = groupOf[a];
            // An image alone in its group has no siblings to compare with: its doubt is measured against the ceiling only.
            double ownMean = size[own] > 1 ? sums[own] / (size[own] - 1) : double.PositiveInfinity;
            // Only the nearest other group is a candidate, so that one odd image cannot chain several groups together.
            int best = -1; double bestMean = double.PositiveInfinity;
            for (int g = 0; g < groups; g++)
            {
                if (g == own) continue;
                double mean = sums[g] / size[g];
                if (mean < bestMean) { bestMean = mean; best = g; }
            }
            if (best >= 0 && bestMean <= ceiling && bestMean <= ownMean + margin) joins.Add((bestMean - Math.Min(ownMean, bestMean + margin), rootOf[own], rootOf[best]));
        }
        // Most doubtful first; a join may not make a group larger than maxSizeFactor times the median group size (two originals
        // joined, not a chain of them).
        var sorted = size.Where(c => c > 1).OrderBy(c => c).ToList();
        int limit = sorted.Count == 0 || maxSizeFactor <= 0 ? int.MaxValue : (int)Math.Ceiling(maxSizeFactor * sorted[sorted.Count / 2]);
        var joinedSize = new Dictionary<int, int>();
        foreach (var (r, g) in roots) joinedSize[r] = size[g];
        foreach (var (_, x, y) in joins.OrderBy(j => j.Doubt).ThenBy(j => j.A).ThenBy(j => j.B))
        {
            int rx = local.Find(x), ry = local.Find(y);
            if (rx == ry) continue;
            int total = joinedSize[rx] + joinedSize[ry];
            if (total > limit) continue;
            local.Union(rx, ry);
            joinedSize[local.Find(rx)] = total;
        }
    }

    private void AddPairs(Partition part, UnionFind local, int k, List<NearDuplicatePair> pairs)
    {
        if (k <= 0) return;
        int m = part.Members.Length;
        var root = new int[m];
        for (int a = 0; a < m; a++) root[a] = local.Find(a);
        var byRoot = new Dictionary<int, List<int>>();
        for (int a = 0; a < m; a++)
        {
            if (!byRoot.TryGetValue(root[a], out var list)) byRoot[root[a]] = list = [];
            list.Add(a);
        }
        var seen = new HashSet<(int, int)>();
        var candidates = new List<(float D, int J)>();
        for (int a = 0; a < m; a++)
        {
            candidates.Clear();
            foreach (int b in byRoot[root[a]])
            {
                if (b != a) candidates.Add((part.Distances[AverageLinkage.Index(m, a, b)], b));
            }
            candidates.Sort((x, y) => x.D != y.D ? x.D.CompareTo(y.D) : x.J.CompareTo(y.J));
            for (int c = 0; c < Math.Min(k, candidates.Count); c++)
            {
                int b = candidates[c].J;
                var key = a < b ? (a, b) : (b, a);
                if (!seen.Add(key)) continue;
                pairs.Add(new NearDuplicatePair(images[part.Members[key.Item1]].Key, images[part.Members[key.Item2]].Key, 1.0 / (1.0 + candidates[c].D)));
            }
        }
    }

    private GroupingResult Build(UnionFind uf, List<NearDuplicatePair> pairs)
    {
        var groupOfRoot = new Dictionary<int, int>();
        var groups = new List<List<string>>();
        for (int i = 0; i < images.Count; i++)
        {
            int root = uf.Find(i);
            if (!groupOfRoot.TryGetValue(root, out int g))
            {
                groupOfRoot[root] = g = groups.Count;
                groups.Add([]);
            }
            groups[g].Add(images[i].Key);
        }
        var ordered = pairs.OrderBy(p => p.A, StringComparer.Ordinal).ThenBy(p => p.B, StringComparer.Ordinal).ToList();
        return new GroupingResult(groups.Select((keys, id) => new SourceGroup(id, keys)).ToList(), ordered);
    }
}
