namespace WbcPortal.Engine.Evaluation.Reject;

/// <summary>
/// How an evaluation reads with the model's "Unidentified" answer: the coverage-accuracy curve, the point at the
/// model's threshold, and how many images of each true class it left unidentified.
/// </summary>
/// <param name="Threshold">The model's reject threshold (0: it decides every image).</param>
/// <param name="UnidentifiedByClass">Images left unidentified, by true class.</param>
public sealed record CoverageReport(double Threshold, CoveragePoint AtThreshold, IReadOnlyList<CoveragePoint> Curve, int[] UnidentifiedByClass)
{
    public static CoverageReport Build(int classes, IReadOnlyList<ImagePrediction> predictions, double temperature, double threshold)
    {
        var curve = CoverageCurve.From(predictions, temperature, threshold);
        var unidentified = new int[classes];
        var confidence = new double[predictions.Count];
        var right = new bool[predictions.Count];
        for (int i = 0; i < predictions.Count; i++)
        {
            var decision = RejectRule.Decide(Calibration.Softmax(predictions[i].Logits, temperature), threshold);
            confidence[i] = decision.Confidence;
            right[i] = decision.Predicted == predictions[i].Label;
            if (decision.Unidentified) unidentified[predictions[i].Label]++;
        }
        return new CoverageReport(threshold, CoverageCurve.At(threshold, confidence, right), curve, unidentified);
    }
}
