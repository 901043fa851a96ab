namespace WbcPortal.Services.Training;

/// <summary>One figure of two cross-validations side by side: mean and sample SD over each one's folds, the difference B - A,
/// its 95 % margin (half-width of the t interval: paired by fold where both cut the same folds, Welch's otherwise) and the verdict.</summary>
public sealed record CrossValidationFigureRow(string Figure, bool Percent, bool LowerIsBetter, double? MeanA, double? SdA, int CountA,
    double? MeanB, double? SdB, int CountB, double? Delta, double? Margin, Verdict Verdict);

/// <summary>
/// Two cross-validations compared. <see cref="Paired"/>: both dealt the same source split into the same folds (same split,
/// number of folds and fold seed), so fold i of one and fold i of the other test the same originals and the difference is
/// judged fold by fold, which removes the spread between folds. A difference is a gain or a loss only when it is larger
/// than its 95 % margin; otherwise it is within the folds' noise (<see cref="Verdict.Same"/>). Nothing is judged when either
/// side lost a fold (deleted: its mean is not final) or a fold split of either side is not leak-free (<see cref="Verdict.Unjudged"/>,
/// with <see cref="NotJudgedWhy"/>).
/// </summary>
public sealed record CrossValidationComparisonResult(CrossValidationSummary A, CrossValidationSummary B, bool Paired, string? NotJudgedWhy,
    IReadOnlyList<CrossValidationFigureRow> Rows)
{
    public bool Judged => NotJudgedWhy is null;
}

public static class CrossValidationComparison
{
    private sealed record Figure(string Name, bool Percent, bool LowerIsBetter, Func<FoldFigures, double?> Value);

    public static CrossValidationComparisonResult Compare(CrossValidationSummary a, CrossValidationSummary b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        bool paired = a.SourceSplit == b.SourceSplit && a.Folds == b.Folds && a.Seed == b.Seed && a.Id != b.Id;
        string? why = NotJudged(a) ?? NotJudged(b);
        var labels = a.Labels.Concat(b.Labels).Distinct(StringComparer.Ordinal).ToList();
        var figures = new List<Figure>
        {
            new("Test accuracy", true, false, f => f.Accuracy),
            new("Macro-F1", false, false, f => f.MacroF1),
        };
        figures.AddRange(labels.Select(l => new Figure($"{l} recall", false, false, f => f.PerClassRecall.TryGetValue(l, out var r) ? r : null)));
        figures.Add(new("ECE", false, true, f => f.Ece));
        figures.Add(new("Originals right (by majority)", true, false, f => f.OriginalsAccuracy));

        var rows = new List<CrossValidationFigureRow>();
        foreach (var figure in figures)
        {
            var va = Values(a, figure.Value);
            var vb = Values(b, figure.Value);
            double? meanA = va.Count > 0 ? va.Values.Average() : null, meanB = vb.Count > 0 ? vb.Values.Average() : null;
            double? delta = meanA is not null && meanB is not null ? meanB - meanA : null;
            double? margin = null;
            if (paired)
            {
                var d = va.Keys.Intersect(vb.Keys).Select(fold => vb[fold] - va[fold]).ToList();
                if (d.Count >= 2)
                {
                    delta = d.Average();
                    margin = TCritical(d.Count - 1) * Sd(d)!.Value / Math.Sqrt(d.Count);
                }
            }
            else if (va.Count >= 2 && vb.Count >= 2)
            {
                double sa = Sd(va.Values.ToList())!.Value, sb = Sd(vb.Values.ToList())!.Value;
                double qa = sa * sa / va.Count, qb = sb * sb / vb.Count;
                double se = Math.Sqrt(qa + qb);
                double df = se == 0 ? va.Count + vb.Count - 2 : (qa + qb) * (qa + qb) / (qa * qa / (va.Count - 1) + qb * qb / (vb.Count - 1));
                margin = TCritical((int)Math.Floor(df)) * se;
            }
            rows.Add(new CrossValidationFigureRow(figure.Name, figure.Percent, figure.LowerIsBetter, meanA, Sd(va.Values.ToList()), va.Count,
                meanB, Sd(vb.Values.ToList()), vb.Count, delta, margin, VerdictOf(delta, margin, figure.LowerIsBetter, why is null)));
        }
        return new CrossValidationComparisonResult(a, b, paired, why, rows);
    }

    private static Verdict VerdictOf(double? delta, double? margin, bool lowerIsBetter, bool judged)
    {
        if (delta is null || margin is null) return Verdict.None;
        if (!judged) return Verdict.Unjudged;
        if (Math.Abs(delta.Value) <= margin.Value) return Verdict.Same;
        bool up = delta.Value > 0;
        return up != lowerIsBetter ? Verdict.Better : Verdict.Worse;
    }

    /// <summary>Why the figures of <paramref name="cv"/> cannot be judged: a fold deleted, or a fold split that is not leak-free.</summary>
    private static string? NotJudged(CrossValidationSummary cv)
    {
        // A deleted fold leaves a mean over the others that can never be made final: no verdict on it.
        if (cv.Incomplete) return $"{cv.Name} is {cv.StatusText}: its mean is not final.";
        var bad = cv.FoldRuns.Where(f => f.Figures is not null && f.Honesty is not { Trustworthy: true }).ToList();
        if (bad.Count == 0) return null;
        var first = bad[0];
        return $"{cv.Name}: {bad.Count} of its folds' splits {(bad.Count == 1 ? "is" : "are")} not leak-free (fold {first.Fold}: {first.Honesty?.Label ?? "not leak-checked"}).";
    }

    private static Dictionary<int, double> Values(CrossValidationSummary cv, Func<FoldFigures, double?> value) =>
        cv.FoldRuns.Where(f => f.Figures is not null).Select(f => (f.Fold, V: value(f.Figures!))).Where(x => x.V is not null)
            .GroupBy(x => x.Fold).ToDictionary(g => g.Key, g => g.First().V!.Value);

    private static double? Sd(IReadOnlyList<double> v)
    {
        if (v.Count < 2) return null;
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1));
    }

    /// <summary>Two-sided 95 % quantile of Student's t with <paramref name="df"/> degrees of freedom.</summary>
    public static double TCritical(int df) => df switch
    {
        <= 1 => 12.706,
        2 => 4.303,
        3 => 3.182,
        4 => 2.776,
        5 => 2.571,
        6 => 2.447,
        7 => 2.365,
        8 => 2.306,
        9 => 2.262,
        10 => 2.228,
        // Within a band, the quantile at its smallest df (the wider margin).
        <= 15 => 2.201,
        <= 20 => 2.120,
        <= 30 => 2.086,
        _ => 2.042,
    };
}
