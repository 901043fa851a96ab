using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Grouping;

/// <summary>Two images of different groups whose nucleus-centred polar images match (see <see cref="PolarSignature.Distance"/>).</summary>
public readonly record struct SameCellLink(int A, int B, double Distance);

/// <summary>
/// The grouper's last stage: groups whose images show the same cell are joined. The descriptor's cut keeps an original's
/// copies together, but two originals cut from overlapping fields of view (the same cell, framed a little differently) land in
/// separate groups, and a split that puts them on two sides leaks. Their copies do match once aligned on the nucleus (a
/// rotation and a flip of the polar image): each image's nearest candidates in other groups of its partition (by the
/// rotation-invariant ring spectra) are aligned, and two groups are joined when at least <c>minLinks</c> image pairs between them
/// are closer than <c>maxDistance</c>. Decided on the groups as cut, then applied, so the order of images does not matter.
/// </summary>
public static class SameCellLinker
{
    /// <summary>Cross-group pairs within a partition at or under <paramref name="maxDistance"/>, each once (A &lt; B).</summary>
    public static IReadOnlyList<SameCellLink> Links(IReadOnlyList<string> partitionOf, IReadOnlyList<int> labels, IReadOnlyList<PolarSignature?> signatures,
        int candidates, double maxDistance, int threads, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitionOf);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(signatures);
        int n = labels.Count;
        if (partitionOf.Count != n || signatures.Count != n) throw new ArgumentException("one partition, label and signature per image");
        int k = Math.Max(1, candidates);
        var found = new List<SameCellLink>();
        foreach (var partition in Enumerable.Range(0, n).Where(i => signatures[i] is not null).GroupBy(i => partitionOf[i], StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var members = partition.ToArray();
            int m = members.Length;
            var index = new PolarCoarseIndex(members.Select(i => signatures[i]!).ToList());
            var perImage = new List<SameCellLink>[m];
            Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancellationToken }, a =>
            {
                int label = labels[members[a]];
                Span<int> bestI = stackalloc int[k];
                index.Nearest(a, b => labels[members[b]] != label, bestI);
                var list = new List<SameCellLink>();
                var mine = signatures[members[a]]!;
                for (int c = 0; c < k && bestI[c] >= 0; c++)
                {
                    int other = members[bestI[c]];
                    double distance = PolarSignature.Distance(mine, signatures[other]!);
                    if (distance <= maxDistance) list.Add(new SameCellLink(Math.Min(members[a], other), Math.Max(members[a], other), distance));
                }
                perImage[a] = list;
            });
            found.AddRange(perImage.SelectMany(l => l));
        }
        return found.GroupBy(l => (l.A, l.B)).Select(g => g.First()).OrderBy(l => l.A).ThenBy(l => l.B).ToList();
    }

    /// <summary>Labels after joining every two groups linked by at least <paramref name="minLinks"/> pairs at or under
    /// <paramref name="maxDistance"/> (each image pair counted once). The result labels each image by the smallest image index of its group.</summary>
    public static int[] Join(IReadOnlyList<int> labels, IReadOnlyList<SameCellLink> links, double maxDistance, int minLinks)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(links);
        int n = labels.Count;
        var uf = new UnionFind(n);
        var first = new Dictionary<int, int>();
        for (int i = 0; i < n; i++)
        {
            if (first.TryGetValue(labels[i], out int f)) uf.Union(f, i);
            else first[labels[i]] = i;
        }
        var counts = new Dictionary<(int, int), int>();
        foreach (var link in links)
        {
            if (link.Distance > maxDistance) continue;
            int la = labels[link.A], lb = labels[link.B];
            if (la == lb) continue;
            var key = la < lb ? (la, lb) : (lb, la);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        foreach (var ((la, lb), count) in counts.OrderBy(c => c.Key))
        {
            if (count >= Math.Max(1, minLinks)) uf.Union(first[la], first[lb]);
        }
        var result = new int[n];
        var smallest = new Dictionary<int, int>();
        for (int i = 0; i < n; i++)
        {
            int root = uf.Find(i);
            if (!smallest.ContainsKey(root)) smallest[root] = i;
            result[i] = smallest[root];
        }
        return result;
    }
}
