namespace WbcPortal.Engine.Smears;

/// <summary>One class of a differential count: how many cells, their share of the identified cells and its exact 95 % interval.</summary>
public sealed record ClassCount(string Label, int Count, double Percent, double LowPercent, double HighPercent);

/// <summary>
/// A differential count: every cell counted once (cells cut by the image border included, and flagged), "Unidentified" cells
/// apart. Percentages are of the identified cells, each with its exact (Clopper-Pearson) 95 % binomial interval, the interval
/// the haematology tables for a 100- or 200-cell differential (Rümke's) give: for 10 of 100, 4.9-17.6 %.
/// </summary>
public sealed record DifferentialCount(int Cells, int Identified, int Unidentified, int EdgeCells, IReadOnlyList<ClassCount> Classes)
{
    public const string UnidentifiedLabel = Evaluation.Reject.ClassDecision.UnidentifiedName;

    /// <summary>The count of <paramref name="answers"/> (a class name or "Unidentified", with whether the cell is at the edge) over <paramref name="labels"/>, in that order.</summary>
    public static DifferentialCount Of(IReadOnlyList<string> labels, IEnumerable<(string Answer, bool Edge)> answers)
    {
        var list = answers.ToList();
        int unidentified = list.Count(a => a.Answer == UnidentifiedLabel);
        int identified = list.Count - unidentified;
        // Classes a correction gave that the model does not know (BASOPHIL) are counted too, after the model's own.
        var all = labels.Concat(list.Select(a => a.Answer).Where(a => a != UnidentifiedLabel && !labels.Contains(a)).Distinct().Order(StringComparer.Ordinal)).ToList();
        var classes = all.Select(label =>
        {
            int k = list.Count(a => a.Answer == label);
            var (low, high) = Interval(k, identified);
            return new ClassCount(label, k, identified == 0 ? 0 : 100.0 * k / identified, 100 * low, 100 * high);
        }).ToList();
        return new DifferentialCount(list.Count, identified, unidentified, list.Count(a => a.Edge), classes);
    }

    /// <summary>The exact two-sided 95 % (Clopper-Pearson) interval of a proportion <paramref name="k"/> of <paramref name="n"/>; (0, 1) for n = 0.</summary>
    public static (double Low, double High) Interval(int k, int n, double confidence = 0.95)
    {
        if (n <= 0) return (0, 1);
        if (k < 0 || k > n) throw new ArgumentOutOfRangeException(nameof(k));
        double alpha = (1 - confidence) / 2;
        // Low: the p at which P(X >= k) = alpha; high: the p at which P(X <= k) = alpha. Both found by bisection.
        double low = k == 0 ? 0 : Bisect(p => 1 - BinomialCdf(k - 1, n, p) - alpha);
        double high = k == n ? 1 : Bisect(p => alpha - BinomialCdf(k, n, p));
        return (low, high);
    }

    /// <summary>The root in [0, 1] of an increasing function.</summary>
    private static double Bisect(Func<double, double> f)
    {
        double lo = 0, hi = 1;
        for (int i = 0; i < 60; i++)
        {
            double mid = (lo + hi) / 2;
            if (f(mid) < 0) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>P(X &lt;= k) for X ~ Binomial(n, p), summed in log space (n up to thousands).</summary>
    internal static double BinomialCdf(int k, int n, double p)
    {
        if (k < 0) return 0;
        if (k >= n) return 1;
        if (p <= 0) return 1;
        if (p >= 1) return 0;
        double logP = Math.Log(p), logQ = Math.Log(1 - p), sum = 0, logC = 0; // log C(n, 0)
        for (int i = 0; i <= k; i++)
        {
            if (i > 0) logC += Math.Log(n - i + 1) - Math.Log(i);
            sum += Math.Exp(logC + i * logP + (n - i) * logQ);
        }
        return Math.Min(1, sum);
    }
}
