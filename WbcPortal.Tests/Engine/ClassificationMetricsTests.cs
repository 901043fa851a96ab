using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Tests.Engine;

/// <summary>Metrics checked against cases worked out by hand.</summary>
public class ClassificationMetricsTests
{
    [Fact]
    public void A_three_class_case_worked_out_by_hand()
    {
        // actual rows, predicted columns
        //        A  B  C
        //   A    5  1  0   support 6
        //   B    2  3  1   support 6
        //   C    0  0  4   support 4
        var m = new ClassificationMetrics(["A", "B", "C"], new[,] { { 5, 1, 0 }, { 2, 3, 1 }, { 0, 0, 4 } });
        Assert.Equal(16, m.Total);
        Assert.Equal(12.0 / 16, m.Accuracy, 12);
        var a = m.PerClass[0];
        Assert.Equal(5.0 / 7, a.Precision, 12);
        Assert.Equal(5.0 / 6, a.Recall, 12);
        Assert.Equal(2 * (5.0 / 7) * (5.0 / 6) / (5.0 / 7 + 5.0 / 6), a.F1, 12);
        var b = m.PerClass[1];
        Assert.Equal(3.0 / 4, b.Precision, 12);
        Assert.Equal(3.0 / 6, b.Recall, 12);
        Assert.Equal(0.6, b.F1, 12);
        var c = m.PerClass[2];
        Assert.Equal(4.0 / 5, c.Precision, 12);
        Assert.Equal(1.0, c.Recall, 12);
        Assert.Equal(8.0 / 9, c.F1, 12);
        Assert.Equal((a.F1 + b.F1 + c.F1) / 3, m.MacroF1, 12);
        Assert.Equal((a.F1 * 6 + b.F1 * 6 + c.F1 * 4) / 16, m.WeightedF1, 12);
    }

    [Fact]
    public void A_class_nobody_predicted_has_precision_zero_not_nan()
    {
        var m = ClassificationMetrics.From(["A", "B"], [(0, 0), (1, 0), (1, 0)]);
        Assert.Equal(0, m.PerClass[1].Precision);
        Assert.Equal(0, m.PerClass[1].Recall);
        Assert.Equal(0, m.PerClass[1].F1);
        Assert.Equal(1.0 / 3, m.PerClass[0].Precision, 12);
        Assert.Equal(1.0 / 3, m.Accuracy, 12);
    }

    [Fact]
    public void A_class_with_no_samples_is_left_out_of_the_macro_average()
    {
        var m = ClassificationMetrics.From(["A", "B", "C"], [(0, 0), (1, 1), (1, 2)]);
        Assert.Equal(0, m.PerClass[2].Support);
        Assert.Equal(0, m.PerClass[2].Precision);
        Assert.Equal((m.PerClass[0].F1 + m.PerClass[1].F1) / 2, m.MacroF1, 12);
        Assert.Equal(2.0 / 3, m.Accuracy, 12);
    }
}
