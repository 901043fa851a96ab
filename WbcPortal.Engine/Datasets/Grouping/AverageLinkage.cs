using System.Numerics;

namespace WbcPortal.Engine.Datasets.Grouping;

/// <summary>One agglomeration step: clusters represented by items <see cref="A"/> and <see cref="B"/> joined at <see cref="Distance"/>.</summary>
public readonly record struct Merge(int A, int B, float Distance);

/// <summary>
/// Average-linkage (UPGMA) agglomerative clustering by the nearest-neighbour-chain algorithm: O(n^2) time on a
/// condensed distance matrix, deterministic. Average linkage has no inversions, so cutting at a threshold is
/// the union of all merges at or below it.
/// </summary>
public static class AverageLinkage
{
    /// <summary>Condensed index of (i, j), i != j, in an n-item upper triangle.</summary>
    public static long Index(int n, int i, int j)
    {
        if (i > j) (i, j) = (j, i);
        return (long)i * (2L * n - i - 1) / 2 + (j - i - 1);
    }

    /// <summary>Euclidean distances between rows of <paramref name="rows"/> (n x dim, row-major), condensed, computed in parallel.</summary>
    public static float[] Distances(float[] rows, int n, int dim, int threads, CancellationToken cancellationToken = default)
    {
        var d = new float[(long)n * (n - 1) / 2];
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken };
        int width = Vector<float>.Count;
        Parallel.For(0, n, options, i =>
        {
            var a = rows.AsSpan(i * dim, dim);
            long baseIndex = Index(n, i, Math.Min(i + 1, n - 1));
            for (int j = i + 1; j < n; j++)
            {
                var b = rows.AsSpan(j * dim, dim);
                var acc = Vector<float>.Zero;
                int k = 0;
                for (; k <= dim - width; k += width)
                {
                    var diff = new Vector<float>(a[k..]) - new Vector<float>(b[k..]);
                    acc += diff * diff;
                }
                float s = Vector.Sum(acc);
                for (; k < dim; k++) { float t = a[k] - b[k]; s += t * t; }
                d[baseIndex + (j - i - 1)] = MathF.Sqrt(s);
            }
        });
        return d;
    }

    /// <summary>As <see cref="Distances(float[], int, int, int, CancellationToken)"/>, but each block's share of a distance (its own Euclidean
    /// distance) is capped at its <c>Cap</c> (0 or less: no cap) before the shares are summed in quadrature: one broken block (a nucleus
    /// found in the wrong place, say) cannot push two copies of one original apart by more than its cap.</summary>
    public static float[] Distances(float[] rows, int n, int dim, IReadOnlyList<(int Start, int Length, float Cap)> blocks, int threads, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.All(b => b.Cap <= 0)) return Distances(rows, n, dim, threads, cancellationToken);
        var d = new float[(long)n * (n - 1) / 2];
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken };
        int width = Vector<float>.Count;
        var spans = blocks.ToArray();
        Parallel.For(0, n, options, i =>
        {
            var a = rows.AsSpan(i * dim, dim);
            long baseIndex = Index(n, i, Math.Min(i + 1, n - 1));
            for (int j = i + 1; j < n; j++)
            {
                var b = rows.AsSpan(j * dim, dim);
                float total = 0;
                foreach (var (start, length, cap) in spans)
                {
                    var acc = Vector<float>.Zero;
                    int k = start, end = start + length;
                    for (; k <= end - width; k += width)
                    {
                        var diff = new Vector<float>(a[k..]) - new Vector<float>(b[k..]);
                        acc += diff * diff;
                    }
                    float s = Vector.Sum(acc);
                    for (; k < end; k++) { float t = a[k] - b[k]; s += t * t; }
                    if (cap > 0 && s > cap * cap) s = cap * cap;
                    total += s;
                }
                d[baseIndex + (j - i - 1)] = MathF.Sqrt(total);
            }
        });
        return d;
    }

    /// <summary>The n - 1 merges of the full dendrogram. <paramref name="distances"/> is consumed (overwritten).</summary>
    public static List<Merge> Cluster(float[] distances, int n, CancellationToken cancellationToken = default)
    {
        var merges = new List<Merge>(Math.Max(0, n - 1));
        if (n < 2) return merges;
        var size = new int[n];
        var active = new bool[n];
        Array.Fill(size, 1);
        Array.Fill(active, true);
        var chain = new List<int>(n);
        int remaining = n;
        int nextStart = 0;
        while (remaining > 1)
        {
            if (chain.Count == 0)
            {
                while (!active[nextStart]) nextStart++;
                chain.Add(nextStart);
            }
            int top = chain[^1];
            int prev = chain.Count > 1 ? chain[^2] : -1;
            // Nearest active neighbour of top; ties go to prev so the chain terminates.
            int best = prev;
            float bestD = prev >= 0 ? distances[Index(n, top, prev)] : float.PositiveInfinity;
            for (int k = 0; k < n; k++)
            {
                if (!active[k] || k == top) continue;
                float dk = distances[Index(n, top, k)];
                if (dk < bestD) { bestD = dk; best = k; }
            }
            if (best == prev)
            {
                chain.RemoveAt(chain.Count - 1);
                chain.RemoveAt(chain.Count - 1);
                int keep = Math.Min(top, prev), drop = Math.Max(top, prev);
                merges.Add(new Merge(keep, drop, bestD));
                int sk = size[keep], sd = size[drop];
                for (int k = 0; k < n; k++)
                {
                    if (!active[k] || k == keep || k == drop) continue;
                    long ik = Index(n, keep, k);
                    distances[ik] = (sk * distances[ik] + sd * distances[Index(n, drop, k)]) / (sk + sd);
                }
                size[keep] = sk + sd;
                active[drop] = false;
                remaining--;
                if ((remaining & 255) == 0) cancellationToken.ThrowIfCancellationRequested();
            }
            else
            {
                chain.Add(best);
            }
        }
        return merges;
    }
}
