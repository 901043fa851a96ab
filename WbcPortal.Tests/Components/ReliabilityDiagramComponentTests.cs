using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Tests.Components;

/// <summary>The reliability panel says how sure the calibrated model is beside how often it is right, and why a gap can remain.</summary>
public class ReliabilityDiagramComponentTests : PortalTestContext
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];

    /// <summary>Images at top probability softmax([z, -z]) = p, the first <paramref name="right"/> of them right.</summary>
    private static EvaluationReport Report(double p, int n, int right)
    {
        float z = (float)(0.5 * Math.Log(p / (1 - p)));
        var predictions = Enumerable.Range(0, n).Select(i => new ImagePrediction($"i{i}", i < right ? 0 : 1, [z, -z])).ToList();
        return EvaluationReport.Build(Labels, predictions, temperature: 1);
    }

    [Fact]
    public void An_over_confident_part_is_named_with_its_gap_and_the_reason()
    {
        // 20 images at 0.95, 15 right: sure 95.0 % on average, right 75.0 %: over-confident by 20 points.
        var panel = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.95, 20, 15)));
        var gap = panel.Find("[data-testid=calibration-gap]").TextContent;
        Assert.Contains("95.0 %", gap.Replace('\u00a0', ' '));
        Assert.Contains("75.0 %", gap.Replace('\u00a0', ' '));
        Assert.Contains("over-confident by 20.0 points", gap);
        Assert.Contains("fitted on the validation part", gap);
    }

    [Fact]
    public void A_calibrated_part_gets_no_warning_and_an_under_confident_one_is_named()
    {
        var calibrated = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.8, 20, 16))).Find("[data-testid=calibration-gap]").TextContent;
        Assert.DoesNotContain("confident by", calibrated);
        Assert.EndsWith(".", calibrated.Trim());

        var under = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.6, 20, 20))).Find("[data-testid=calibration-gap]").TextContent;
        Assert.Contains("under-confident by 40.0 points", under);
    }
}
