namespace WbcPortal.Engine.Evaluation;

/// <summary>One row of the classification report, with a 95 % Wilson interval on recall.</summary>
public sealed record ClassReport(string Label, double Precision, double Recall, Interval RecallCi, double F1, int Support, int Predicted);

/// <summary>
/// Everything a reviewer reads about a model on one set of labelled images: the classification report
/// (per class, accuracy, macro and weighted averages, as scikit-learn prints it), 95 % Wilson intervals on
/// accuracy and per-class recall, the confusion matrix (rows actual, columns predicted), and calibration
/// before and after temperature scaling. Built from per-image logits, so it can be rebuilt exactly.
/// </summary>
public sealed record EvaluationReport
{
    public required IReadOnlyList<string> Labels { get; init; }
    public required int Total { get; init; }
    public required double Accuracy { get; init; }
    public required Interval AccuracyCi { get; init; }
    public required double MacroPrecision { get; init; }
    public required double MacroRecall { get; init; }
    public required double MacroF1 { get; init; }
    public required double WeightedPrecision { get; init; }
    public required double WeightedRecall { get; init; }
    public required double WeightedF1 { get; init; }
    public required IReadOnlyList<ClassReport> PerClass { get; init; }
    /// <summary>Rows actual, columns predicted.</summary>
    public required int[][] Confusion { get; init; }
    /// <summary>Calibration of the raw logits (T = 1).</summary>
    public required CalibrationSummary Uncalibrated { get; init; }
    /// <summary>Calibration at the model's fitted temperature (the probabilities every later prediction shows).</summary>
    public required CalibrationSummary Calibrated { get; init; }

    /// <summary>
    /// The same evaluation counted by source original, with cluster-bootstrap intervals and the originals the errors
    /// come from; null when the images carry no source groups (a folder, a dataset never grouped).
    /// </summary>
    public OriginalsReport? ByOriginal { get; init; }

    public double Temperature => Calibrated.Temperature;

    /// <summary>The coverage-accuracy curve and the point at the model's reject threshold; null in reports stored before the model had one.</summary>
    public Reject.CoverageReport? Coverage { get; init; }

    /// <param name="groupOfKey">Each image's source group by prediction key, when known: intervals then also count originals.</param>
    /// <param name="rejectThreshold">The model's reject threshold: images under it are counted as "Unidentified" in <see cref="Coverage"/> (the classification report still counts every image's top class).</param>
    public static EvaluationReport Build(IReadOnlyList<string> labels, IReadOnlyList<ImagePrediction> predictions, double temperature = 1,
        IReadOnlyDictionary<string, int?>? groupOfKey = null, double rejectThreshold = 0)
    {
        foreach (var p in predictions)
        {
            if (p.Logits.Length != labels.Count) throw new ArgumentException($"Prediction for {p.Key} has {p.Logits.Length} logits for {labels.Count} classes.");
            if (p.Label < 0 || p.Label >= labels.Count) throw new ArgumentException($"Prediction for {p.Key} has label {p.Label} outside the {labels.Count} classes.");
        }
        var metrics = ClassificationMetrics.From(labels, predictions.Select(p => (p.Label, p.Predicted)));
        int n = labels.Count, total = metrics.Total;
        var confusion = new int[n][];
        for (int r = 0; r < n; r++)
        {
            confusion[r] = new int[n];
            for (int c = 0; c < n; c++) confusion[r][c] = metrics.Confusion[r, c];
        }
        var perClass = metrics.PerClass.Select((m, i) =>
            new ClassReport(m.Label, m.Precision, m.Recall, ConfidenceIntervals.Wilson(confusion[i][i], m.Support), m.F1, m.Support, m.Predicted)).ToList();
        int correct = Enumerable.Range(0, n).Sum(i => confusion[i][i]);
        return new EvaluationReport
        {
            Labels = labels,
            Total = total,
            Accuracy = metrics.Accuracy,
            AccuracyCi = ConfidenceIntervals.Wilson(correct, total),
            MacroPrecision = metrics.MacroPrecision,
            MacroRecall = metrics.MacroRecall,
            MacroF1 = metrics.MacroF1,
            WeightedPrecision = total == 0 ? 0 : perClass.Sum(c => c.Precision * c.Support) / total,
            WeightedRecall = total == 0 ? 0 : perClass.Sum(c => c.Recall * c.Support) / total,
            WeightedF1 = metrics.WeightedF1,
            PerClass = perClass,
            Confusion = confusion,
            Uncalibrated = CalibrationSummary.From(predictions, 1),
            Calibrated = CalibrationSummary.From(predictions, temperature),
            ByOriginal = groupOfKey is null ? null : OriginalsReport.Build(n, predictions, groupOfKey, temperature),
            Coverage = Reject.CoverageReport.Build(n, predictions, temperature, rejectThreshold),
        };
    }
}
