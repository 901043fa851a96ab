using System.Numerics;
using System.Runtime.InteropServices;

namespace WbcPortal.Engine.Imaging;

/// <summary>
/// The candidate search before alignment, shared by the leak check and the grouper's same-cell links: the rotation- and
/// flip-invariant coarse vectors of a set of <see cref="PolarSignature"/>s, contiguous with their squared norms
/// (distance² = |a|² + |b|² - 2 a·b), and the nearest rows to one of them. Read-only once built: safe to search in parallel.
/// </summary>
public sealed class PolarCoarseIndex
{
    private const int Dim = PolarSignature.CoarseLength;
    private readonly float[] rows;
    private readonly float[] norms;

    public PolarCoarseIndex(IReadOnlyList<PolarSignature> signatures)
    {
        ArgumentNullException.ThrowIfNull(signatures);
        rows = new float[signatures.Count * Dim];
        norms = new float[signatures.Count];
        for (int i = 0; i < signatures.Count; i++)
        {
            var coarse = signatures[i].Coarse;
            coarse.CopyTo(rows, i * Dim);
            norms[i] = Dot(coarse, coarse);
        }
    }

    public int Count => norms.Length;

    /// <summary>Fills <paramref name="best"/> with the rows nearest to row <paramref name="query"/> among those <paramref name="candidate"/>
    /// accepts, nearest first (ties: the lower row); -1 where fewer were accepted.</summary>
    public void Nearest(int query, Func<int, bool> candidate, Span<int> best)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        int k = best.Length;
        if (k == 0) return;
        Span<float> bestD = k <= 64 ? stackalloc float[k] : new float[k];
        bestD.Fill(float.PositiveInfinity);
        best.Fill(-1);
        var q = rows.AsSpan(query * Dim, Dim);
        for (int v = 0; v < norms.Length; v++)
        {
            if (!candidate(v)) continue;
            float d = norms[query] + norms[v] - 2 * Dot(q, rows.AsSpan(v * Dim, Dim));
            if (d >= bestD[k - 1]) continue;
            int at = k - 1;
            while (at > 0 && bestD[at - 1] > d) { bestD[at] = bestD[at - 1]; best[at] = best[at - 1]; at--; }
            bestD[at] = d;
            best[at] = v;
        }
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector<float>.Zero;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        int i = 0;
        for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            sum += Vector.LoadUnsafe(ref ra, (nuint)i) * Vector.LoadUnsafe(ref rb, (nuint)i);
        }
        float total = Vector.Sum(sum);
        for (; i < a.Length; i++) total += a[i] * b[i];
        return total;
    }
}
