namespace WbcPortal.Engine.Evaluation;

/// <summary>One bin of a reliability diagram: predictions whose top probability fell in [Lower, Upper).</summary>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, double MeanConfidence, double Accuracy);

/// <summary>How well the top-class probability matches how often the model is right.</summary>
/// <param name="Ece">Expected calibration error: the count-weighted mean gap between confidence and accuracy over equal-width bins.</param>
/// <param name="NegativeLogLikelihood">Mean -log p(true class).</param>
public sealed record CalibrationSummary(double Temperature, double Ece, double NegativeLogLikelihood, IReadOnlyList<ReliabilityBin> Bins)
{
    public const int DefaultBins = 15;

    /// <summary>The mean top-class probability over all predictions (what the model claims its accuracy is).</summary>
    public double MeanConfidence
    {
        get
        {
            long n = Bins.Sum(b => (long)b.Count);
            return n == 0 ? 0 : Bins.Sum(b => b.Count * b.MeanConfidence) / n;
        }
    }

    public static CalibrationSummary From(IReadOnlyList<ImagePrediction> predictions, double temperature = 1, int bins = DefaultBins)
    {
        var totals = new ReliabilityTotals(bins);
        double nll = 0;
        foreach (var p in predictions)
        {
            var probs = Calibration.Softmax(p.Logits, temperature);
            totals.Add(probs, p.Label);
            nll -= Math.Log(Math.Max(probs[p.Label], 1e-12));
        }
        int n = predictions.Count;
        var list = new List<ReliabilityBin>(bins);
        for (int b = 0; b < bins; b++)
        {
            long count = totals.Count[b];
            list.Add(new ReliabilityBin((double)b / bins, (double)(b + 1) / bins, (int)count,
                count == 0 ? 0 : totals.Confidence[b] / count, count == 0 ? 0 : (double)totals.Correct[b] / count));
        }
        return new CalibrationSummary(temperature, totals.Ece(), n == 0 ? 0 : nll / n, list);
    }
}

/// <summary>
/// Per equal-width bin of top-class probability: how many predictions fell in it, their summed confidence and how
/// many were right. Totals add up, so the ECE of any union of prediction sets (a bootstrap draw of originals) is cheap.
/// </summary>
public sealed class ReliabilityTotals
{
    public long[] Count { get; }
    public double[] Confidence { get; }
    public long[] Correct { get; }

    public ReliabilityTotals(int bins = CalibrationSummary.DefaultBins)
    {
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins));
        Count = new long[bins];
        Confidence = new double[bins];
        Correct = new long[bins];
    }

    public static ReliabilityTotals Of(IEnumerable<ImagePrediction> predictions, double temperature = 1, int bins = CalibrationSummary.DefaultBins)
    {
        var totals = new ReliabilityTotals(bins);
        foreach (var p in predictions) totals.Add(Calibration.Softmax(p.Logits, temperature), p.Label);
        return totals;
    }

    /// <summary>Counts one prediction (its class probabilities and true label) in the bin of its top probability.</summary>
    public void Add(double[] probabilities, int label)
    {
        int top = 0;
        for (int i = 1; i < probabilities.Length; i++) if (probabilities[i] > probabilities[top]) top = i;
        int bin = Math.Min(Count.Length - 1, (int)(probabilities[top] * Count.Length));
        Count[bin]++;
        Confidence[bin] += probabilities[top];
        if (top == label) Correct[bin]++;
    }

    public void Clear()
    {
        Array.Clear(Count);
        Array.Clear(Confidence);
        Array.Clear(Correct);
    }

    public void Add(ReliabilityTotals other)
    {
        for (int b = 0; b < Count.Length; b++)
        {
            Count[b] += other.Count[b];
            Confidence[b] += other.Confidence[b];
            Correct[b] += other.Correct[b];
        }
    }

    /// <summary>Expected calibration error: the count-weighted gap between mean confidence and accuracy over the bins.</summary>
    public double Ece()
    {
        long n = Count.Sum();
        if (n == 0) return 0;
        double ece = 0;
        for (int b = 0; b < Count.Length; b++)
        {
            if (Count[b] == 0) continue;
            ece += (double)Count[b] / n * Math.Abs(Confidence[b] / Count[b] - (double)Correct[b] / Count[b]);
        }
        return ece;
    }
}

/// <summary>Softmax with a temperature, and temperature scaling (Guo et al. 2017): one scalar T fitted by minimising the validation NLL.</summary>
public static class Calibration
{
    public static double[] Softmax(ReadOnlySpan<float> logits, double temperature = 1)
    {
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature));
        var result = new double[logits.Length];
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l / temperature);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += result[i] = Math.Exp(logits[i] / temperature - max);
        for (int i = 0; i < logits.Length; i++) result[i] /= sum;
        return result;
    }

    /// <summary>The bounds of the temperature search: a fitted temperature at either one did not settle.</summary>
    public const double MinTemperature = 0.05, MaxTemperature = 20;

    /// <summary>
    /// The temperature in [0.05, 20] minimising the mean NLL of <paramref name="predictions"/>; golden-section search on
    /// log T (the NLL is unimodal in it). 1 when there is nothing to fit.
    /// </summary>
    /// <param name="weights">Per-prediction weight (see <see cref="OriginalWeights"/>); null for one each.</param>
    public static double FitTemperature(IReadOnlyList<ImagePrediction> predictions, IReadOnlyList<double>? weights = null)
    {
        if (predictions.Count == 0) return 1;
        if (weights is not null && weights.Count != predictions.Count) throw new ArgumentException("One weight per prediction.", nameof(weights));
        double totalWeight = weights?.Sum() ?? predictions.Count;
        if (!(totalWeight > 0)) return 1;
        double Nll(double logT)
        {
            double t = Math.Exp(logT), sum = 0;
            for (int i = 0; i < predictions.Count; i++)
            {
                var p = predictions[i];
                double max = double.NegativeInfinity;
                foreach (var l in p.Logits) max = Math.Max(max, l / t);
                double z = 0;
                foreach (var l in p.Logits) z += Math.Exp(l / t - max);
                sum += (weights?[i] ?? 1) * (max + Math.Log(z) - p.Logits[p.Label] / t);
            }
            return sum / totalWeight;
        }
        double lo = Math.Log(MinTemperature), hi = Math.Log(MaxTemperature), phi = (Math.Sqrt(5) - 1) / 2;
        double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo), fa = Nll(a), fb = Nll(b);
        for (int i = 0; i < 80 && hi - lo > 1e-6; i++)
        {
            if (fa < fb) { hi = b; b = a; fb = fa; a = hi - phi * (hi - lo); fa = Nll(a); }
            else { lo = a; a = b; fa = fb; b = lo + phi * (hi - lo); fb = Nll(b); }
        }
        return Math.Exp((lo + hi) / 2);
    }
}

/// <summary>Weights that count each source original once.</summary>
public static class OriginalWeighting
{
    /// <summary>
    /// 1 / (copies of its original in the set) for an image whose original is known, 1 for one whose is not: fitted
    /// on a part of a grouped split, a temperature or threshold then answers for its originals, not for the one cell
    /// with 150 augmented copies. Null when no image has a known original (plain weights).
    /// </summary>
    public static IReadOnlyList<double>? Of(IReadOnlyList<ImagePrediction> predictions, IReadOnlyDictionary<string, int?>? groupOfKey)
    {
        if (groupOfKey is null) return null;
        var groups = predictions.Select(p => groupOfKey.TryGetValue(p.Key, out var g) ? g : null).ToList();
        if (groups.All(g => g is null)) return null;
        var copies = groups.Where(g => g is not null).GroupBy(g => g!.Value).ToDictionary(g => g.Key, g => g.Count());
        return groups.Select(g => g is int id ? 1.0 / copies[id] : 1.0).ToList();
    }
}

/// <summary>A 95 % interval for a proportion.</summary>
public sealed record Interval(double Low, double High);

public static class ConfidenceIntervals
{
    /// <summary>The Wilson score interval for <paramref name="successes"/> out of <paramref name="trials"/> (z = 1.96 for 95 %); [0, 1] when there are no trials.</summary>
    public static Interval Wilson(int successes, int trials, double z = 1.959963984540054)
    {
        if (trials < 0 || successes < 0 || successes > trials) throw new ArgumentOutOfRangeException(nameof(successes));
        if (trials == 0) return new Interval(0, 1);
        double p = (double)successes / trials, z2 = z * z;
        double centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
        double half = z * Math.Sqrt(p * (1 - p) / trials + z2 / (4.0 * trials * trials)) / (1 + z2 / trials);
        return new Interval(Math.Max(0, centre - half), Math.Min(1, centre + half));
    }
}
