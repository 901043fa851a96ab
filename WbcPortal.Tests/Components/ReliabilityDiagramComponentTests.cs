using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Tests.Components;

/// <summary>The reliability panel says how sure the calibrated model is beside how often it is right, and why a gap can remain.</summary>
public class ReliabilityDiagramComponentTests : PortalTestContext
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];

    /// <summary>Images at calibrated top probability p (at temperature 2), the first <paramref name="right"/> of them right.</summary>
    private static EvaluationReport Report(double p, int n, int right)
    {
        float z = (float)(2 * 0.5 * Math.Log(p / (1 - p)));
        var predictions = Enumerable.Range(0, n).Select(i => new ImagePrediction($"i{i}", i < right ? 0 : 1, [z, -z])).ToList();
        return EvaluationReport.Build(Labels, predictions, temperature: 2);
    }

    [Fact]
    public void An_over_confident_part_is_named_with_its_gap_and_the_reason()
    {
        // 200 images at 0.95, 150 right: sure 95.0 % on average, right 75.0 % (Wilson 68.6-80.5 %): over-confident by 20 points.
        var panel = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.95, 200, 150)));
        var gap = panel.Find("[data-testid=calibration-gap]").TextContent;
        Assert.Contains("95.0 % sure on average and right 75.0 % of the time", gap);
        Assert.Contains("over-confident by 20.0 points", gap);
        Assert.Contains("fitted on the validation part", gap);

        // On the part the temperature was fitted on, the gap is named without blaming a harder part.
        var own = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.95, 200, 150)).Add(r => r.IsCalibrationPart, true)).Find("[data-testid=calibration-gap]").TextContent;
        Assert.Contains("over-confident by 20.0 points.", own);
        Assert.DoesNotContain("validation", own);
    }

    [Fact]
    public void A_gap_inside_the_accuracy_interval_is_not_called_a_gap_and_an_under_confident_part_is_named()
    {
        // 20 images at 0.8, 14 right (70 %, Wilson 48-85 %): 10 points off, but inside the interval of so few images.
        var calibrated = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.8, 20, 14))).Find("[data-testid=calibration-gap]").TextContent;
        Assert.DoesNotContain("confident by", calibrated);
        Assert.Contains("inside the accuracy's 95 % interval", calibrated);

        var under = Render<ReliabilityDiagram>(x => x.Add(r => r.Report, Report(0.6, 200, 200))).Find("[data-testid=calibration-gap]").TextContent;
        Assert.Contains("under-confident by 40.0 points", under);
    }
}
