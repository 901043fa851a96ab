namespace WbcPortal.Engine.Evaluation.Reject;

/// <summary>What the model answers for one image: a class, or "Unidentified" when it is not sure enough.</summary>
/// <param name="Predicted">The most probable class (kept when unidentified: reviewers still see the guess).</param>
/// <param name="Confidence">Its calibrated probability.</param>
/// <param name="Unidentified">The confidence is under the model's reject threshold.</param>
public sealed record ClassDecision(int Predicted, double Confidence, bool Unidentified)
{
    public const string UnidentifiedName = "Unidentified";

    /// <summary>The answer to show: the class name, or "Unidentified".</summary>
    public string Answer(IReadOnlyList<string> labels) => Unidentified ? UnidentifiedName : labels[Predicted];
}

/// <summary>
/// The reject rule: an image is decided when its calibrated top probability is at least the threshold, else the model
/// answers "Unidentified". The threshold is fitted on the validation part as the lowest one at which the decided
/// images reach a target accuracy (each original weighted once where originals are known, so one cell's many copies
/// do not set it), and stored in the model.
/// </summary>
public static class RejectRule
{
    /// <summary>The default target accuracy on decided cells.</summary>
    public const double DefaultTargetAccuracy = 0.95;

    public static bool Decides(double confidence, double threshold) => confidence >= threshold;

    public static ClassDecision Decide(double[] probabilities, double threshold)
    {
        int top = Compute.VectorMath.Argmax(probabilities);
        return new ClassDecision(top, probabilities[top], !Decides(probabilities[top], threshold));
    }

    /// <summary>
    /// The lowest threshold at which the (weighted) accuracy of the decided predictions is at least
    /// <paramref name="targetAccuracy"/>: predictions are taken most confident first and the threshold is the confidence of
    /// the last one in the longest such prefix. 0 (decide everything) when all predictions together reach the target;
    /// 1 when not even the most confident one is right.
    /// </summary>
    /// <param name="weights">Per-prediction weight (for example 1 / copies of its original); null for one each.</param>
    public static double Fit(IReadOnlyList<ImagePrediction> predictions, double temperature, double targetAccuracy, IReadOnlyList<double>? weights = null)
    {
        if (!(targetAccuracy > 0 && targetAccuracy <= 1)) throw new ArgumentOutOfRangeException(nameof(targetAccuracy), "The target accuracy must be in (0, 1].");
        if (weights is not null && weights.Count != predictions.Count) throw new ArgumentException("One weight per prediction.", nameof(weights));
        if (predictions.Count == 0) return 0;
        var rows = new (double Confidence, bool Right, double Weight)[predictions.Count];
        for (int i = 0; i < predictions.Count; i++)
        {
            var probabilities = Calibration.Softmax(predictions[i].Logits, temperature);
            int top = Compute.VectorMath.Argmax(probabilities);
            rows[i] = (probabilities[top], top == predictions[i].Label, weights?[i] ?? 1);
        }
        Array.Sort(rows, (a, b) => b.Confidence.CompareTo(a.Confidence));
        double weight = 0, correct = 0;
        int best = -1;
        for (int i = 0; i < rows.Length; i++)
        {
            weight += rows[i].Weight;
            if (rows[i].Right) correct += rows[i].Weight;
            // a prefix ends only where the confidence changes: ties are decided together
            bool boundary = i == rows.Length - 1 || rows[i + 1].Confidence < rows[i].Confidence;
            if (boundary && weight > 0 && correct / weight >= targetAccuracy - 1e-12) best = i;
        }
        if (best == rows.Length - 1) return 0;
        return best < 0 ? 1 : rows[best].Confidence;
    }
}
