namespace WbcPortal.Engine.Evaluation;

/// <summary>One evaluated image of a comparison: the same image has the same <paramref name="Key"/> in both evaluations; <paramref name="Group"/> is its original (null: an original of its own).</summary>
public sealed record ComparedPrediction(string Key, int Label, float[] Logits, int? Group);

/// <summary>A figure's difference B − A on the full data and the 95 % percentile interval of that difference over bootstrap draws of originals.</summary>
public sealed record FigureDifference(double Delta, Interval Ci)
{
    /// <summary>The interval leaves out 0: the difference is larger than the noise of which originals happened to be tested.</summary>
    public bool OutsideNoise => Ci.Low > 0 || Ci.High < 0;
}

/// <param name="Paired">Both evaluations hold the same images: each draw takes the same originals on both sides, so the spread between originals cancels.</param>
public sealed record DifferenceReport(bool Paired, int OriginalsA, int OriginalsB, IReadOnlyDictionary<string, FigureDifference> Figures);

/// <summary>
/// How much two evaluations' figures differ beyond noise. Copies of one original are not independent, so the unit drawn is the
/// original (source group and true label), stratified by class like <see cref="OriginalsReport"/>. When both evaluations hold the
/// same images the draw is paired (the same originals on both sides); otherwise each side is drawn on its own.
/// Figures: <c>accuracy</c>, <c>macroF1</c>, <c>weightedF1</c>, <c>eceRaw</c> (temperature 1), <c>eceCalibrated</c> (each side's
/// temperature), and per class index <c>recall.K</c> and <c>f1.K</c>.
/// </summary>
public static class DifferenceByOriginal
{
    public const int Resamples = 1000;
    public const int Seed = 20261207;

    private sealed class Unit(int label, int classes)
    {
        public int Label { get; } = label;
        public long[] Confusion { get; } = new long[classes * classes];
        public ReliabilityTotals Raw { get; } = new();
        public ReliabilityTotals Calibrated { get; } = new();

        public void Add(ComparedPrediction p, int classes, double temperature)
        {
            int predicted = Compute.VectorMath.Argmax(p.Logits);
            Confusion[p.Label * classes + predicted]++;
            Raw.Add(Calibration.Softmax(p.Logits, 1), p.Label);
            Calibrated.Add(Calibration.Softmax(p.Logits, temperature), p.Label);
        }
    }

    private sealed class Totals(int classes)
    {
        public long[] Confusion { get; } = new long[classes * classes];
        public ReliabilityTotals Raw { get; } = new();
        public ReliabilityTotals Calibrated { get; } = new();

        public void Clear()
        {
            Array.Clear(Confusion);
            Raw.Clear();
            Calibrated.Clear();
        }

        public void Add(Unit unit)
        {
            for (int i = 0; i < Confusion.Length; i++) Confusion[i] += unit.Confusion[i];
            Raw.Add(unit.Raw);
            Calibrated.Add(unit.Calibrated);
        }
    }

    public static IReadOnlyList<string> FigureNames(int classes) =>
        ["accuracy", "macroF1", "weightedF1", "eceRaw", "eceCalibrated", .. Enumerable.Range(0, classes).Select(c => $"recall.{c}"), .. Enumerable.Range(0, classes).Select(c => $"f1.{c}")];

    public static DifferenceReport Compare(int classes, IReadOnlyList<ComparedPrediction> a, double temperatureA, IReadOnlyList<ComparedPrediction> b, double temperatureB)
    {
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes));
        if (a.Count == 0 || b.Count == 0) throw new ArgumentException("Both evaluations need images.");
        var keysA = a.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        bool paired = keysA.Count == a.Count && b.Count == a.Count && b.All(p => keysA.Contains(p.Key));

        var unitsA = Units(a, classes, temperatureA, out var keyOfA);
        var unitsB = Units(b, classes, temperatureB, out var keyOfB);
        var names = FigureNames(classes);
        var pointA = Figures(Sum(unitsA.Values, classes), classes);
        var pointB = Figures(Sum(unitsB.Values, classes), classes);

        var random = new Random(Seed);
        var draws = names.Select(_ => new double[Resamples]).ToArray();
        var totalsA = new Totals(classes);
        var totalsB = new Totals(classes);
        // Paired: the originals (of A's grouping; B holds the same images) drawn once for both sides, each original's
        // images found on B by key. Unpaired: each side's originals drawn on their own.
        var bByKey = paired ? b.ToDictionary(p => p.Key, StringComparer.Ordinal) : null;
        var pairedB = bByKey is not null ? unitsA.Keys.ToDictionary(k => k, k => UnitOfKeys(keyOfA[k], bByKey, classes, temperatureB)) : null;
        var strataA = Strata(unitsA, classes);
        var strataB = Strata(unitsB, classes);
        for (int r = 0; r < Resamples; r++)
        {
            totalsA.Clear();
            totalsB.Clear();
            foreach (var stratum in strataA)
            {
                for (int k = 0; k < stratum.Length; k++)
                {
                    var key = stratum[random.Next(stratum.Length)];
                    totalsA.Add(unitsA[key]);
                    if (pairedB is not null) totalsB.Add(pairedB[key]);
                }
            }
            if (pairedB is null)
            {
                foreach (var stratum in strataB)
                {
                    for (int k = 0; k < stratum.Length; k++) totalsB.Add(unitsB[stratum[random.Next(stratum.Length)]]);
                }
            }
            var fa = Figures(totalsA, classes);
            var fb = Figures(totalsB, classes);
            for (int f = 0; f < names.Count; f++) draws[f][r] = fb[f] - fa[f];
        }
        var figures = new Dictionary<string, FigureDifference>(StringComparer.Ordinal);
        for (int f = 0; f < names.Count; f++)
        {
            if (double.IsNaN(pointA[f]) || double.IsNaN(pointB[f])) continue;
            figures[names[f]] = new FigureDifference(pointB[f] - pointA[f], OriginalsReport.Percentiles(draws[f]));
        }
        return new DifferenceReport(paired, unitsA.Count, unitsB.Count, figures);
    }

    private static Dictionary<(int? Group, string? Alone, int Label), Unit> Units(IReadOnlyList<ComparedPrediction> predictions, int classes, double temperature,
        out Dictionary<(int? Group, string? Alone, int Label), List<string>> keys)
    {
        var units = new Dictionary<(int?, string?, int), Unit>();
        keys = [];
        foreach (var p in predictions)
        {
            if (p.Label < 0 || p.Label >= classes) throw new ArgumentException($"Label {p.Label} is not one of {classes} classes.");
            var id = (p.Group, p.Group is null ? p.Key : null, p.Label);
            if (!units.TryGetValue(id, out var unit)) { units[id] = unit = new Unit(p.Label, classes); keys[id] = []; }
            unit.Add(p, classes, temperature);
            keys[id].Add(p.Key);
        }
        return units;
    }

    private static Unit UnitOfKeys(List<string> keys, Dictionary<string, ComparedPrediction> side, int classes, double temperature)
    {
        var unit = new Unit(-1, classes);
        foreach (var key in keys) unit.Add(side[key], classes, temperature);
        return unit;
    }

    private static List<(int? Group, string? Alone, int Label)[]> Strata(Dictionary<(int? Group, string? Alone, int Label), Unit> units, int classes) =>
        Enumerable.Range(0, classes).Select(c => units.Keys.Where(k => k.Label == c).ToArray()).Where(s => s.Length > 0).ToList();

    private static Totals Sum(IEnumerable<Unit> units, int classes)
    {
        var totals = new Totals(classes);
        foreach (var unit in units) totals.Add(unit);
        return totals;
    }

    /// <summary>The figures of <see cref="FigureNames"/> from summed counts, as <see cref="ClassificationMetrics"/> defines them (NaN where a class has no image).</summary>
    private static double[] Figures(Totals t, int classes)
    {
        var result = new double[5 + 2 * classes];
        long total = 0, correct = 0;
        double f1Sum = 0, weighted = 0;
        int present = 0;
        for (int c = 0; c < classes; c++)
        {
            long support = 0, called = 0, tp = t.Confusion[c * classes + c];
            for (int k = 0; k < classes; k++)
            {
                support += t.Confusion[c * classes + k];
                called += t.Confusion[k * classes + c];
            }
            total += support;
            correct += tp;
            double recall = support == 0 ? double.NaN : (double)tp / support;
            double precision = called == 0 ? 0 : (double)tp / called;
            double f1 = support == 0 ? double.NaN : precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            result[5 + c] = recall;
            result[5 + classes + c] = f1;
            if (support > 0)
            {
                present++;
                f1Sum += f1;
                weighted += f1 * support;
            }
        }
        result[0] = total == 0 ? double.NaN : (double)correct / total;
        result[1] = present == 0 ? double.NaN : f1Sum / present;
        result[2] = total == 0 ? double.NaN : weighted / total;
        result[3] = t.Raw.Ece();
        result[4] = t.Calibrated.Ece();
        return result;
    }
}
