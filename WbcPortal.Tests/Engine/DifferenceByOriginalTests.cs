using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Tests.Engine;

/// <summary>The noise of a difference between two evaluations, drawn by original (issue 25: a comparison never a colour alone).</summary>
public sealed class DifferenceByOriginalTests
{
    /// <summary>Two classes, <paramref name="originals"/> originals a class of <paramref name="copies"/> images; <paramref name="right"/> says which (original, copy) is called right.</summary>
    private static List<ComparedPrediction> Evaluation(int originals, int copies, Func<int, int, int, bool> right, string prefix = "img")
    {
        var list = new List<ComparedPrediction>();
        for (int label = 0; label < 2; label++)
        {
            for (int o = 0; o < originals; o++)
            {
                for (int c = 0; c < copies; c++)
                {
                    int called = right(label, o, c) ? label : 1 - label;
                    var logits = new float[2];
                    logits[called] = 2;
                    list.Add(new ComparedPrediction($"{prefix}-{label}-{o}-{c}", label, logits, label * 1000 + o));
                }
            }
        }
        return list;
    }

    [Fact]
    public void The_same_predictions_differ_by_exactly_nothing()
    {
        var a = Evaluation(10, 5, (l, o, c) => o % 3 != 0);
        var report = DifferenceByOriginal.Compare(2, a, 1.5, a, 1.5);
        Assert.True(report.Paired);
        Assert.Equal(20, report.OriginalsA);
        Assert.All(report.Figures.Values, d => Assert.Equal((0.0, 0.0, 0.0), (d.Delta, d.Ci.Low, d.Ci.High)));
    }

    [Fact]
    public void A_gain_on_every_original_is_beyond_noise_when_paired()
    {
        // A misses the first copy of every original, B none: +20 points, on every original alike.
        var a = Evaluation(10, 5, (l, o, c) => c != 0);
        var b = Evaluation(10, 5, (l, o, c) => true);
        var report = DifferenceByOriginal.Compare(2, a, 1, b, 1);
        Assert.True(report.Paired);
        var accuracy = report.Figures["accuracy"];
        Assert.Equal(0.2, accuracy.Delta, 9);
        Assert.True(accuracy.OutsideNoise);
        Assert.Equal(0.2, accuracy.Ci.Low, 9); // every draw gains exactly 20 points
        Assert.True(report.Figures["recall.0"].OutsideNoise);
        Assert.True(report.Figures["macroF1"].Delta > 0);
    }

    [Fact]
    public void The_same_gain_held_by_one_original_is_within_noise_and_copies_do_not_count_as_evidence()
    {
        // B right on every copy of one more original a class (50 copies each): +10 points of images, but from 2 of 20 originals.
        var a = Evaluation(10, 50, (l, o, c) => o >= 2);
        var b = Evaluation(10, 50, (l, o, c) => o >= 1);
        var report = DifferenceByOriginal.Compare(2, a, 1, b, 1);
        var accuracy = report.Figures["accuracy"];
        Assert.Equal(0.1, accuracy.Delta, 9);
        Assert.False(accuracy.OutsideNoise, $"{accuracy.Ci}");
        Assert.Equal(0, accuracy.Ci.Low, 9); // a draw without that original shows no gain at all
    }

    [Fact]
    public void Evaluations_of_different_images_are_drawn_apart_and_the_wider_for_it()
    {
        var a = Evaluation(10, 5, (l, o, c) => c != 0);
        var b = Evaluation(10, 5, (l, o, c) => true);
        var paired = DifferenceByOriginal.Compare(2, a, 1, b, 1).Figures["accuracy"];
        var apart = DifferenceByOriginal.Compare(2, a, 1, Evaluation(10, 5, (l, o, c) => o != 0, "other"), 1);
        Assert.False(apart.Paired);
        Assert.True(apart.Figures["accuracy"].Ci.High - apart.Figures["accuracy"].Ci.Low > paired.Ci.High - paired.Ci.Low);
    }
}
