using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Tests.Engine;

/// <summary>The evaluation counted by source original: cluster-bootstrap intervals against cases worked out by hand.</summary>
public class OriginalsReportTests
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];

    /// <summary>Logits that predict <paramref name="predicted"/> of two classes.</summary>
    private static float[] Predicting(int predicted) => predicted == 0 ? [2f, -2f] : [-2f, 2f];

    /// <summary><paramref name="images"/> copies of one original of class <paramref name="label"/>, <paramref name="wrong"/> of them misclassified.</summary>
    private static IEnumerable<(ImagePrediction Prediction, int? Group)> Original(int group, int label, int images, int wrong) =>
        Enumerable.Range(0, images).Select(i => (new ImagePrediction($"g{group}-{i}", label, Predicting(i < wrong ? 1 - label : label)), (int?)group));

    private static (List<ImagePrediction> Predictions, Dictionary<string, int?> Groups) Build(params IEnumerable<(ImagePrediction Prediction, int? Group)>[] originals)
    {
        var all = originals.SelectMany(o => o).ToList();
        return (all.Select(x => x.Prediction).ToList(), all.ToDictionary(x => x.Prediction.Key, x => x.Group));
    }

    [Fact]
    public void Whole_originals_right_or_wrong_give_the_interval_of_the_originals_not_of_the_images()
    {
        // EOSINOPHIL: one original all right, one all wrong (10 copies each); NEUTROPHIL: two originals all right.
        // Drawing 2 eosinophil originals with replacement gives recall 0, 0.5 or 1 (p = 1/4, 1/2, 1/4), so the
        // recall interval is [0, 1] and accuracy (20 + 10 * recall) / 40 spans [0.5, 1]. Counting the 40 images as
        // independent, Wilson says 30/40 = 0.60-0.86: far too sure about four cells.
        var (predictions, groups) = Build(Original(1, 0, 10, 0), Original(2, 0, 10, 10), Original(3, 1, 10, 0), Original(4, 1, 10, 0));
        var report = EvaluationReport.Build(Labels, predictions, groupOfKey: groups);

        Assert.Equal(0.75, report.Accuracy, 9);
        Assert.Equal(0.60, report.AccuracyCi.Low, 2);
        var o = Assert.IsType<OriginalsReport>(report.ByOriginal);
        Assert.Equal(4, o.Originals);
        Assert.Equal([2, 2], o.OriginalsPerClass);
        Assert.Equal(new Interval(0.5, 1), o.AccuracyCi);
        Assert.Equal(new Interval(0, 1), o.RecallCi[0]);
        Assert.Equal(new Interval(1, 1), o.RecallCi[1]);

        var mistaken = Assert.Single(o.Mistaken);
        Assert.Equal((2, 0, 10, 0, 1), (mistaken.Group!.Value, mistaken.Label, mistaken.Images, mistaken.Correct, mistaken.MostPredicted));
        Assert.Equal("g2-0", mistaken.ExampleKey);
        Assert.Equal(1.0, o.TopFiveErrorShare, 9);
    }

    [Fact]
    public void Originals_that_all_look_alike_give_an_ece_interval_of_one_point_the_reports_ece()
    {
        // Every original: 8 copies right and 2 wrong at the same logits, so every draw has the same bins and the same ECE.
        var (predictions, groups) = Build(Original(1, 0, 10, 2), Original(2, 0, 10, 2), Original(3, 1, 10, 2), Original(4, 1, 10, 2));
        var report = EvaluationReport.Build(Labels, predictions, temperature: 1.7, groupOfKey: groups);
        var ece = report.ByOriginal!.EceCi;
        Assert.Equal(report.Calibrated.Ece, ece.Low, 9);
        Assert.Equal(report.Calibrated.Ece, ece.High, 9);
        Assert.True(report.Calibrated.Ece > 0.05, "a model 80 % right at 0.9 confidence is off by about 0.1");
    }

    [Fact]
    public void Mistaken_originals_are_listed_worst_first_and_the_top_five_share_counts_their_errors()
    {
        var (predictions, groups) = Build(
            Original(1, 0, 10, 1), Original(2, 0, 10, 6), Original(3, 0, 10, 2), Original(4, 1, 10, 3),
            Original(5, 1, 10, 5), Original(6, 1, 10, 4), Original(7, 1, 10, 0));
        var o = OriginalsReport.Build(2, predictions, groups)!;
        Assert.Equal([2, 5, 6, 4, 3, 1], o.Mistaken.Select(m => m.Group!.Value));
        // 21 errors in all; the worst five hold 6 + 5 + 4 + 3 + 2 = 20.
        Assert.Equal(20.0 / 21, o.TopFiveErrorShare, 9);
        // 6 of group 2's 10 copies are called NEUTROPHIL: that is what it is mostly called.
        Assert.Equal(1, o.Mistaken[0].MostPredicted);
        Assert.Equal(0, o.Mistaken[^1].MostPredicted);
        // Group 1 is mostly called EOSINOPHIL, rightly; its one error is NEUTROPHIL, and that is what it is mistaken for.
        Assert.Equal(1, o.Mistaken[^1].MistakenFor);
        Assert.Equal(1, o.Mistaken[^1].CalledInstead);
        // A report stored before MistakenFor: its most predicted class where that is not its own, else unknown.
        Assert.Null((o.Mistaken[^1] with { MistakenFor = null }).CalledInstead);
        Assert.Equal(1, (o.Mistaken[0] with { MistakenFor = null }).CalledInstead);
    }

    [Fact]
    public void Images_without_a_group_count_as_their_own_original_and_then_match_wilson()
    {
        // 400 independent images, 300 right: the bootstrap over single-image "originals" is the ordinary bootstrap,
        // whose percentile interval is close to Wilson's (0.705-0.790).
        var predictions = Enumerable.Range(0, 400).Select(i => new ImagePrediction($"i{i}", i % 2, Predicting(i < 300 ? i % 2 : 1 - i % 2))).ToList();
        var groups = predictions.ToDictionary(p => p.Key, p => p.Key == "i0" ? (int?)1 : null);
        var report = EvaluationReport.Build(Labels, predictions, groupOfKey: groups);
        var o = report.ByOriginal!;
        Assert.Equal(400, o.Originals);
        Assert.Equal(report.AccuracyCi.Low, o.AccuracyCi.Low, 1.5e-2);
        Assert.Equal(report.AccuracyCi.High, o.AccuracyCi.High, 1.5e-2);
        // The same predictions give the same intervals: the draws are seeded.
        Assert.Equal(o.AccuracyCi, OriginalsReport.Build(2, predictions, groups)!.AccuracyCi);
    }

    [Fact]
    public void Without_any_group_or_images_there_is_no_report_by_original_and_a_class_with_no_original_is_unknown()
    {
        var (predictions, _) = Build(Original(1, 0, 5, 1));
        Assert.Null(EvaluationReport.Build(Labels, predictions).ByOriginal);
        Assert.Null(OriginalsReport.Build(2, predictions, predictions.ToDictionary(p => p.Key, _ => (int?)null)));
        Assert.Null(OriginalsReport.Build(2, [], new Dictionary<string, int?>()));

        // Only eosinophils: the neutrophil recall interval is everything from 0 to 1.
        var o = OriginalsReport.Build(2, predictions, predictions.ToDictionary(p => p.Key, _ => (int?)1))!;
        Assert.Equal([1, 0], o.OriginalsPerClass);
        Assert.Equal(new Interval(0, 1), o.RecallCi[1]);
        Assert.Equal(new Interval(0.8, 0.8), o.RecallCi[0]);
    }

    [Fact]
    public void A_group_that_joined_two_classes_counts_each_class_as_its_own_original()
    {
        var predictions = new List<ImagePrediction>
        {
            new("a", 0, Predicting(0)), new("b", 0, Predicting(0)), new("c", 1, Predicting(0)),
        };
        var o = OriginalsReport.Build(2, predictions, predictions.ToDictionary(p => p.Key, _ => (int?)9))!;
        Assert.Equal(2, o.Originals);
        Assert.Equal([1, 1], o.OriginalsPerClass);
        var mistaken = Assert.Single(o.Mistaken);
        Assert.Equal((1, 1, 0), (mistaken.Label, mistaken.Images, mistaken.Correct));
    }
}
