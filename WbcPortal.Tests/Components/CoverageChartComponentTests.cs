using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>The "Unidentified" panel: what the model decides at its threshold, the curve, and a refit that fails with its reason.</summary>
public class CoverageChartComponentTests : PortalTestContext
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];

    /// <summary>Ten EOSINOPHIL images at p 0.95 .. 0.50 for class 0; the ones at 0.70 and 0.60 are really NEUTROPHIL.</summary>
    private static EvaluationReport Report(double threshold)
    {
        var predictions = Enumerable.Range(0, 10).Select(i => 0.95 - 0.05 * i).Select((p, i) =>
            new ImagePrediction($"i{i}", Math.Abs(p - 0.7) < 1e-9 || Math.Abs(p - 0.6) < 1e-9 ? 1 : 0, [(float)Math.Log(p), (float)Math.Log(1 - p)])).ToList();
        return EvaluationReport.Build(Labels, predictions, 1, rejectThreshold: threshold);
    }

    [Fact]
    public void The_panel_says_what_the_model_decides_at_its_threshold_and_who_is_left_unidentified()
    {
        var panel = Render<CoverageChart>(x => x.Add(c => c.Report, Report(0.72)).Add(c => c.RunId, 1));
        var summary = panel.Find("[data-testid=coverage-summary]").TextContent;
        // 0.95 .. 0.75 decided (5 of 10, all right); 0.70 .. 0.50 unidentified: 3 EOSINOPHIL, 2 NEUTROPHIL.
        Assert.Contains("Under p 0.720 the model answers \"Unidentified\": it decides 50.0 % of these images and is right on 100.0 % of those, against 80.0 % on all.", summary);
        Assert.Contains("5 unidentified (EOSINOPHIL 3, NEUTROPHIL 2)", summary);
        panel.Find("[data-testid=coverage-chart]");

        var none = Render<CoverageChart>(x => x.Add(c => c.Report, Report(0)).Add(c => c.RunId, 1)).Find("[data-testid=coverage-summary]").TextContent;
        Assert.Contains("decides every image (no threshold)", none);
    }

    [Fact]
    public void A_threshold_that_decides_nothing_says_so_instead_of_a_perfect_accuracy_on_decided_cells()
    {
        // Every probability is under 0.99: nothing is decided. "Right on 100.0 % of those" would claim a perfect model.
        var report = Report(0.99);
        Assert.Equal(0, report.Coverage!.AtThreshold.Decided);
        Assert.Null(report.Coverage.AtThreshold.DecidedAccuracy);
        var summary = Render<CoverageChart>(x => x.Add(c => c.Report, report).Add(c => c.RunId, 1)).Find("[data-testid=coverage-summary]").TextContent;
        Assert.Contains("decides none of these 10 images", summary);
        Assert.DoesNotContain("100.0 %", summary);
    }

    [Fact]
    public async Task A_report_from_before_the_threshold_says_so_and_a_failed_refit_shows_its_reason()
    {
        await Services.MigrateAsync();
        var panel = Render<CoverageChart>(x => x.Add(c => c.Report, Report(0.72) with { Coverage = null }).Add(c => c.RunId, 424242));
        Assert.Contains("stored before models had an \"Unidentified\" answer", panel.Find("[data-testid=coverage-missing]").TextContent);
        Assert.Empty(panel.FindAll("[data-testid=coverage-chart]"));
        panel.Find("[data-testid=coverage-refit]").Click();
        panel.WaitForAssertion(() => Assert.Contains("Not refitted", panel.Find("[data-testid=coverage-message]").TextContent));
        Assert.Contains("No run 424242", panel.Find("[data-testid=coverage-message]").TextContent);
    }
}
