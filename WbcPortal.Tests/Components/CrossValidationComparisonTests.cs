using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Tests.Components;

/// <summary>Two cross-validations compared by mean ± spread: paired by fold when both cut the same folds, Welch's otherwise;
/// a difference is a gain only beyond its 95 % margin, and nothing is judged when a fold split is not leak-free.</summary>
[Trait("Category", "Torch")]
public class CrossValidationComparisonTests
{
    private static readonly SplitHonesty LeakFree = new(SplitHonestyStatus.LeakFree, "leak-free", "");
    private static readonly SplitHonesty Suspect = new(SplitHonestyStatus.SuspectPairs, "3 suspect pair(s)", "");

    private static CrossValidationSummary Cv(int id, string split, int seed, double[] accuracy, SplitHonesty? honesty = null)
    {
        string[] labels = ["EOS", "NEU"];
        var figures = accuracy.Select(a => new FoldFigures(a, a - 0.02, new Dictionary<string, double> { ["EOS"] = a - 0.05, ["NEU"] = a + 0.05 },
            0.1 - a / 10, 10, (int)Math.Round(a * 10), 300)).ToList();
        var (mean, spread) = CrossValidationService.Statistics(labels, figures);
        var folds = figures.Select((f, i) => new CrossValidationFold(i + 1, 100 * id + i, $"cv{id}-fold{i + 1}", $"cv{id}-fold{i + 1}", RunStatus.Succeeded, null, f)
        {
            Honesty = honesty ?? LeakFree,
        }).ToList();
        return new CrossValidationSummary(id, $"cv{id}", split, accuracy.Length, seed, new TrainingConfig(), DateTimeOffset.UnixEpoch,
            RunStatus.Succeeded, labels, folds, mean, spread, 60, WbcPortal.Engine.Compute.ComputeDevice.Cpu);
    }

    [Fact]
    public void Paired_folds_judge_a_steady_gain_that_the_spread_between_folds_would_hide()
    {
        // Folds differ a lot (0.70-0.90) but B beats A by 2-3 points on every fold.
        var a = Cv(1, "s", 7, [0.70, 0.80, 0.90, 0.75, 0.85]);
        var b = Cv(2, "s", 7, [0.72, 0.83, 0.92, 0.78, 0.87]);
        var result = CrossValidationComparison.Compare(a, b);
        Assert.True(result.Paired);
        Assert.True(result.Judged);
        var accuracy = result.Rows.Single(r => r.Figure == "Test accuracy");
        Assert.Equal(0.024, accuracy.Delta!.Value, 6);
        Assert.True(accuracy.Margin < 0.024, $"margin {accuracy.Margin}");
        Assert.Equal(Verdict.Better, accuracy.Verdict);
        // ECE falls as accuracy rises here, and lower is better: also a gain.
        Assert.Equal(Verdict.Better, result.Rows.Single(r => r.Figure == "ECE").Verdict);
        Assert.Contains(result.Rows, r => r.Figure == "EOS recall");

        // The same means on different folds (another fold seed): Welch's margin is far wider, so it is within noise.
        var unpaired = CrossValidationComparison.Compare(a, Cv(3, "s", 8, [0.72, 0.83, 0.92, 0.78, 0.87]));
        Assert.False(unpaired.Paired);
        var row = unpaired.Rows.Single(r => r.Figure == "Test accuracy");
        Assert.Equal(0.024, row.Delta!.Value, 6);
        Assert.True(row.Margin > 0.05, $"margin {row.Margin}");
        Assert.Equal(Verdict.Same, row.Verdict);
    }

    [Fact]
    public void A_clear_loss_is_worse_and_one_fold_is_not_enough_to_judge()
    {
        var result = CrossValidationComparison.Compare(Cv(1, "s", 7, [0.90, 0.91, 0.89]), Cv(2, "s", 7, [0.80, 0.82, 0.79]));
        Assert.Equal(Verdict.Worse, result.Rows.Single(r => r.Figure == "Test accuracy").Verdict);

        var single = CrossValidationComparison.Compare(Cv(1, "s", 7, [0.90]), Cv(2, "s", 7, [0.80]));
        var row = single.Rows.Single(r => r.Figure == "Test accuracy");
        Assert.Null(row.Margin);
        Assert.Equal(Verdict.None, row.Verdict);
    }

    [Fact]
    public void Nothing_is_judged_when_a_fold_split_of_either_side_is_not_leak_free()
    {
        var result = CrossValidationComparison.Compare(Cv(1, "s", 7, [0.90, 0.91, 0.89]), Cv(2, "s", 7, [0.80, 0.82, 0.79], Suspect));
        Assert.False(result.Judged);
        Assert.Contains("cv2", result.NotJudgedWhy);
        Assert.Contains("3 suspect pair(s)", result.NotJudgedWhy);
        Assert.All(result.Rows.Where(r => r.Delta is not null && r.Margin is not null), r => Assert.Equal(Verdict.Unjudged, r.Verdict));
    }

    [Fact]
    public void The_t_quantiles_are_the_two_sided_95_percent_ones()
    {
        Assert.Equal(2.776, CrossValidationComparison.TCritical(4));
        Assert.Equal(12.706, CrossValidationComparison.TCritical(1));
        Assert.True(CrossValidationComparison.TCritical(12) > CrossValidationComparison.TCritical(40));
    }
}
