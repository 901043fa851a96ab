namespace WbcPortal.Engine.Evaluation.Reject;

/// <summary>
/// What a model's answers are calibrated with, fitted on its validation part: the temperature (probabilities are
/// softmax(logits / T)) and the reject threshold on the calibrated top probability. Both weight each source original
/// once where the images know their originals: a validation part of a grouped split holds a few dozen cells, some
/// with 150 augmented copies, and one such cell would otherwise set the temperature for all.
/// </summary>
public sealed record ModelCalibrationFit(double Temperature, double RejectThreshold, double TargetAccuracy, bool ByOriginal)
{
    public static ModelCalibrationFit Fit(IReadOnlyList<ImagePrediction> validation, IReadOnlyDictionary<string, int?>? groupOfKey, double targetAccuracy)
    {
        var weights = OriginalWeighting.Of(validation, groupOfKey);
        double temperature = Calibration.FitTemperature(validation, weights);
        double threshold = RejectRule.Fit(validation, temperature, targetAccuracy, weights);
        return new ModelCalibrationFit(temperature, threshold, targetAccuracy, weights is not null);
    }
}
