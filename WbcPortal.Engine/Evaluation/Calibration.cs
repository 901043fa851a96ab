namespace WbcPortal.Engine.Evaluation;

/// <summary>One bin of a reliability diagram: predictions whose top probability fell in [Lower, Upper).</summary>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, double MeanConfidence, double Accuracy);

/// <summary>How well the top-class probability matches how often the model is right.</summary>
/// <param name="Ece">Expected calibration error: the count-weighted mean gap between confidence and accuracy over equal-width bins.</param>
/// <param name="NegativeLogLikelihood">Mean -log p(true class).</param>
public sealed record CalibrationSummary(double Temperature, double Ece, double NegativeLogLikelihood, IReadOnlyList<ReliabilityBin> Bins)
{
    public const int DefaultBins = 15;

    public static CalibrationSummary From(IReadOnlyList<ImagePrediction> predictions, double temperature = 1, int bins = DefaultBins)
    {
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins));
        var count = new int[bins];
        var confidence = new double[bins];
        var correct = new int[bins];
        double nll = 0;
        foreach (var p in predictions)
        {
            var probs = Calibration.Softmax(p.Logits, temperature);
            int top = p.Predicted;
            int bin = Math.Min(bins - 1, (int)(probs[top] * bins));
            count[bin]++;
            confidence[bin] += probs[top];
            if (top == p.Label) correct[bin]++;
            nll -= Math.Log(Math.Max(probs[p.Label], 1e-12));
        }
        int n = predictions.Count;
        double ece = 0;
        var list = new List<ReliabilityBin>(bins);
        for (int b = 0; b < bins; b++)
        {
            double meanConfidence = count[b] == 0 ? 0 : confidence[b] / count[b];
            double accuracy = count[b] == 0 ? 0 : (double)correct[b] / count[b];
            if (n > 0) ece += (double)count[b] / n * Math.Abs(meanConfidence - accuracy);
            list.Add(new ReliabilityBin((double)b / bins, (double)(b + 1) / bins, count[b], meanConfidence, accuracy));
        }
        return new CalibrationSummary(temperature, ece, n == 0 ? 0 : nll / n, list);
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

    /// <summary>
    /// The temperature in [0.05, 20] minimising the mean NLL of <paramref name="predictions"/>; golden-section search on
    /// log T (the NLL is unimodal in it). 1 when there is nothing to fit.
    /// </summary>
    public static double FitTemperature(IReadOnlyList<ImagePrediction> predictions)
    {
        if (predictions.Count == 0) return 1;
        double Nll(double logT)
        {
            double t = Math.Exp(logT), sum = 0;
            foreach (var p in predictions)
            {
                double max = double.NegativeInfinity;
                foreach (var l in p.Logits) max = Math.Max(max, l / t);
                double z = 0;
                foreach (var l in p.Logits) z += Math.Exp(l / t - max);
                sum += max + Math.Log(z) - p.Logits[p.Label] / t;
            }
            return sum / predictions.Count;
        }
        double lo = Math.Log(0.05), hi = Math.Log(20), phi = (Math.Sqrt(5) - 1) / 2;
        double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo), fa = Nll(a), fb = Nll(b);
        for (int i = 0; i < 80 && hi - lo > 1e-6; i++)
        {
            if (fa < fb) { hi = b; b = a; fb = fa; a = hi - phi * (hi - lo); fa = Nll(a); }
            else { lo = a; a = b; fa = fb; b = lo + phi * (hi - lo); fb = Nll(b); }
        }
        return Math.Exp((lo + hi) / 2);
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
