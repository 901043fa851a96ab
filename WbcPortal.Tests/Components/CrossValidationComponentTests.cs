using Bunit;
using WbcPortal.Components.Pages.Runs;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Tests.Components;

/// <summary>The cross-validation page's fold table: a row a fold with its run and figures, then mean ± sample SD.</summary>
[Trait("Category", "Torch")]
public class CrossValidationComponentTests : PortalTestContext
{
    private static CrossValidationSummary Summary()
    {
        string[] labels = ["EOS", "NEU"];
        FoldFigures Fig(double acc, double eos, double neu, int right) =>
            new(acc, acc - 0.01, new Dictionary<string, double> { ["EOS"] = eos, ["NEU"] = neu }, 0.05, 10, right, 300);
        var figures = new[] { Fig(0.80, 0.70, 0.90, 8), Fig(0.90, 0.85, 0.95, 9) };
        var (mean, spread) = CrossValidationService.Statistics(labels, figures);
        var folds = new List<CrossValidationFold>
        {
            new(1, 11, "cv-fold1", "cv-fold1", RunStatus.Succeeded, null, figures[0]),
            new(2, 12, "cv-fold2", "cv-fold2", RunStatus.Succeeded, null, figures[1]),
            new(3, 13, "cv-fold3", "cv-fold3", RunStatus.Running, null, null),
        };
        return new CrossValidationSummary(1, "cv", "src", 3, 7, new TrainingConfig(), DateTimeOffset.UnixEpoch, RunStatus.Running, labels, folds, mean, spread, 120, WbcPortal.Engine.Compute.ComputeDevice.Cpu);
    }

    [Fact]
    public void Every_fold_has_its_run_status_and_figures_and_the_mean_row_its_spread()
    {
        var table = Render<CrossValidationFoldTable>(p => p
            .Add(x => x.Summary, Summary())
            .Add(x => x.Live, id => id == 13 ? "round 1 epoch 2/10" : null));

        var rows = table.FindAll("[data-testid=cv-fold-row]");
        Assert.Equal(3, rows.Count);
        Assert.Equal(["cv-fold1", "cv-fold2", "cv-fold3"], table.FindAll("[data-testid=cv-fold-run]").Select(a => a.TextContent));
        Assert.Equal("runs/11", table.FindAll("[data-testid=cv-fold-run]")[0].GetAttribute("href"));
        Assert.Equal(["80.0 %", "90.0 %", "–"], table.FindAll("[data-testid=cv-fold-accuracy]").Select(c => c.TextContent.Trim()));
        Assert.Contains("8 of 10", rows[0].TextContent);
        Assert.Contains("Succeeded", rows[1].TextContent);
        Assert.Contains("Running", rows[2].TextContent);
        Assert.Equal("round 1 epoch 2/10", table.Find("[data-testid=cv-fold-live]").TextContent);
        Assert.Contains("EOS recall", table.Markup);
        Assert.Contains("NEU recall", table.Markup);

        // mean of 0.80 and 0.90 is 85.0 %, their sample SD 7.1 points
        Assert.Equal("85.0 % ± 7.1 pt", table.Find("[data-testid=cv-mean-accuracy]").TextContent.Trim());
        Assert.Contains("2 of 3 folds", table.Find("[data-testid=cv-mean-row]").TextContent);
        Assert.Contains("0.775 ± 0.106", table.Find("[data-testid=cv-mean-row]").TextContent); // EOS recall
    }

    [Fact]
    public void A_deleted_fold_has_its_row_in_fold_order_and_the_mean_row_says_it_is_not_final()
    {
        var full = Summary();
        var summary = full with { FoldRuns = full.FoldRuns.Where(f => f.Fold != 2).ToList() };
        summary = summary with { DeletedFolds = [new DeletedFold(2, "cv-fold2", DateTimeOffset.UnixEpoch, "ana")] };
        Assert.Equal("Running, incomplete (fold 2 deleted)", summary.StatusText);
        Assert.False(summary.MeanIsFinal);

        var table = Render<CrossValidationFoldTable>(p => p.Add(x => x.Summary, summary));

        var deleted = table.Find("[data-testid=cv-fold-deleted]");
        Assert.Contains("run 'cv-fold2'", deleted.TextContent);
        Assert.Contains("by ana", deleted.TextContent);
        Assert.Contains("not in the mean", deleted.TextContent);
        Assert.Equal(["1/3", "2/3", "3/3"], table.FindAll("tbody tr").Take(3).Select(r => r.QuerySelector("td")!.TextContent));
        Assert.Contains("not final: fold 2 deleted", table.Find("[data-testid=cv-mean-row]").TextContent);
    }
}
