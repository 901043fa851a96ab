using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Tests.Engine;

/// <summary>Intervals, calibration error, temperature scaling and the report, against cases worked out by hand.</summary>
public class CalibrationTests
{
    /// <summary>Two-class logits whose softmax gives <paramref name="p"/> to class 0.</summary>
    private static float[] Logits(double p) => [(float)Math.Log(p), (float)Math.Log(1 - p)];

    [Fact]
    public void Wilson_intervals_match_the_textbook_values()
    {
        // 8 of 10: centre (0.8 + 1.96²/20) / (1 + 1.96²/10) = 0.7167, half-width 0.2266.
        var i = ConfidenceIntervals.Wilson(8, 10);
        Assert.Equal(0.4902, i.Low, 3);
        Assert.Equal(0.9433, i.High, 3);
        // 0 of 10 still has an upper bound above 0 (unlike the normal approximation).
        var zero = ConfidenceIntervals.Wilson(0, 10);
        Assert.Equal(0, zero.Low, 9);
        Assert.Equal(0.2775, zero.High, 3);
        Assert.Equal(new Interval(0, 1), ConfidenceIntervals.Wilson(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ConfidenceIntervals.Wilson(3, 2));
    }

    [Fact]
    public void Ece_is_the_count_weighted_gap_between_confidence_and_accuracy()
    {
        // 10 predictions at confidence 0.9 of which 8 right (gap 0.1), 10 at 0.6 all right (gap 0.4): ECE = 0.5 * 0.1 + 0.5 * 0.4.
        var predictions = new List<ImagePrediction>();
        for (int i = 0; i < 10; i++) predictions.Add(new ImagePrediction($"a{i}", i < 8 ? 0 : 1, Logits(0.9)));
        for (int i = 0; i < 10; i++) predictions.Add(new ImagePrediction($"b{i}", 0, Logits(0.6)));
        var summary = CalibrationSummary.From(predictions);
        Assert.Equal(0.25, summary.Ece, 6);
        Assert.Equal(0.75, summary.MeanConfidence, 6); // (10 x 0.9 + 10 x 0.6) / 20, beside an accuracy of 0.9
        var high = summary.Bins.Single(b => b.Lower <= 0.9 && 0.9 < b.Upper);
        Assert.Equal((10, 0.9, 0.8), (high.Count, Math.Round(high.MeanConfidence, 6), high.Accuracy));
        Assert.Equal(15, summary.Bins.Count);
        Assert.Equal(20, summary.Bins.Sum(b => b.Count));
        // NLL: mean of -log p(true): 8 x -log 0.9, 2 x -log 0.1, 10 x -log 0.6.
        Assert.Equal((8 * -Math.Log(0.9) + 2 * -Math.Log(0.1) + 10 * -Math.Log(0.6)) / 20, summary.NegativeLogLikelihood, 5);
    }

    [Fact]
    public void Temperature_scaling_recovers_the_temperature_of_overconfident_logits()
    {
        // Labels drawn from softmax(z); the model reports 3z (overconfident): the fitted T is about 3 and lowers NLL and ECE.
        var random = new Random(7);
        var predictions = new List<ImagePrediction>();
        for (int i = 0; i < 4000; i++)
        {
            var z = new[] { random.NextDouble() * 4 - 2, random.NextDouble() * 4 - 2, random.NextDouble() * 4 - 2 };
            var p = Calibration.Softmax(z.Select(v => (float)v).ToArray());
            double u = random.NextDouble();
            int label = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
            predictions.Add(new ImagePrediction(i.ToString(), label, z.Select(v => (float)(3 * v)).ToArray()));
        }
        double t = Calibration.FitTemperature(predictions);
        Assert.InRange(t, 2.7, 3.3);
        var before = CalibrationSummary.From(predictions, 1);
        var after = CalibrationSummary.From(predictions, t);
        Assert.True(after.NegativeLogLikelihood < before.NegativeLogLikelihood);
        Assert.True(after.Ece < before.Ece / 2, $"ECE {before.Ece} -> {after.Ece}");
        Assert.Equal(1, Calibration.FitTemperature([]));
    }

    [Fact]
    public void Softmax_with_a_temperature_is_stable_for_huge_logits()
    {
        var p = Calibration.Softmax([1000f, 998f], 2);
        Assert.Equal(1 / (1 + Math.Exp(-1)), p[0], 9);
        Assert.Equal(1, p.Sum(), 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => Calibration.Softmax([1f], 0));
    }

    [Fact]
    public void The_report_has_weighted_averages_intervals_and_handles_a_class_with_no_samples_or_predictions()
    {
        // Labels A, B, C. Actual A: 3 predicted A, 1 predicted B. Actual B: 2 predicted A. No C at all.
        var logitsFor = new Func<int, float[]>(k => Enumerable.Range(0, 3).Select(j => j == k ? 2f : 0f).ToArray());
        var predictions = new List<ImagePrediction>
        {
            new("1", 0, logitsFor(0)), new("2", 0, logitsFor(0)), new("3", 0, logitsFor(0)), new("4", 0, logitsFor(1)),
            new("5", 1, logitsFor(0)), new("6", 1, logitsFor(0)),
        };
        var report = EvaluationReport.Build(["A", "B", "C"], predictions, temperature: 2);
        Assert.Equal(6, report.Total);
        Assert.Equal(0.5, report.Accuracy, 9);
        Assert.Equal([[3, 1, 0], [2, 0, 0], [0, 0, 0]], report.Confusion);
        var a = report.PerClass[0];
        Assert.Equal((0.6, 0.75), (Math.Round(a.Precision, 9), a.Recall));
        Assert.Equal(ConfidenceIntervals.Wilson(3, 4), a.RecallCi);
        var b = report.PerClass[1];
        Assert.Equal((0.0, 0.0, 0.0, 2, 1), (b.Precision, b.Recall, b.F1, b.Support, b.Predicted));
        var c = report.PerClass[2];
        Assert.Equal((0, 0), (c.Support, c.Predicted));
        Assert.Equal(new Interval(0, 1), c.RecallCi);
        // Macro over the classes that have samples (A, B); weighted by support.
        double f1A = 2 * 0.6 * 0.75 / 1.35;
        Assert.Equal(f1A / 2, report.MacroF1, 9);
        Assert.Equal((0.6 * 4 + 0 * 2) / 6, report.WeightedPrecision, 9);
        Assert.Equal((0.75 * 4 + 0 * 2) / 6, report.WeightedRecall, 9);
        Assert.Equal(f1A * 4 / 6, report.WeightedF1, 9);
        Assert.Equal(ConfidenceIntervals.Wilson(3, 6), report.AccuracyCi);
        Assert.Equal(2, report.Temperature);
        Assert.Equal(1, report.Uncalibrated.Temperature);
        Assert.Throws<ArgumentException>(() => EvaluationReport.Build(["A", "B"], predictions));
    }
}
