namespace WbcPortal.Engine.Evaluation.Reject;

/// <summary>
/// What a model decides at one reject threshold: predictions whose calibrated top probability is at least
/// <see cref="Threshold"/> are decided, the rest are "Unidentified".
/// </summary>
/// <param name="Decided">Images decided at this threshold.</param>
/// <param name="Correct">Decided images called right.</param>
/// <param name="Total">All images.</param>
public sealed record CoveragePoint(double Threshold, int Decided, int Correct, int Total)
{
    /// <summary>Share of images decided.</summary>
    public double Coverage => Total == 0 ? 0 : (double)Decided / Total;

    /// <summary>Accuracy on the decided images; 1 when none is decided (nothing claimed, nothing wrong).</summary>
    public double Accuracy => Decided == 0 ? 1 : (double)Correct / Decided;

    /// <summary>Accuracy on the decided images for display: null when none is decided (there is nothing to be right about).</summary>
    public double? DecidedAccuracy => Decided == 0 ? null : (double)Correct / Decided;
}

/// <summary>
/// The coverage-accuracy curve of a set of predictions: at each threshold on the calibrated top probability, the
/// share decided and the accuracy on those. Thresholds run from 1/K (every image decided) to 0.99 in steps of 0.01,
/// plus the model's own threshold, so the chosen point lies on the curve.
/// </summary>
public static class CoverageCurve
{
    public static IReadOnlyList<CoveragePoint> From(IReadOnlyList<ImagePrediction> predictions, double temperature, double modelThreshold = 0)
    {
        if (predictions.Count == 0) return [];
        int classes = predictions[0].Logits.Length;
        var confidence = new double[predictions.Count];
        var right = new bool[predictions.Count];
        for (int i = 0; i < predictions.Count; i++)
        {
            var probabilities = Calibration.Softmax(predictions[i].Logits, temperature);
            int top = Compute.VectorMath.Argmax(probabilities);
            confidence[i] = probabilities[top];
            right[i] = top == predictions[i].Label;
        }
        var thresholds = new SortedSet<double> { 0 };
        for (int step = (int)Math.Ceiling(100.0 / classes); step <= 99; step++) thresholds.Add(step / 100.0);
        if (modelThreshold > 0) thresholds.Add(modelThreshold);
        return thresholds.Select(t => At(t, confidence, right)).ToList();
    }

    /// <summary>The point at one threshold.</summary>
    public static CoveragePoint At(double threshold, IReadOnlyList<double> confidence, IReadOnlyList<bool> right)
    {
        int decided = 0, correct = 0;
        for (int i = 0; i < confidence.Count; i++)
        {
            if (!RejectRule.Decides(confidence[i], threshold)) continue;
            decided++;
            if (right[i]) correct++;
        }
        return new CoveragePoint(threshold, decided, correct, confidence.Count);
    }
}
