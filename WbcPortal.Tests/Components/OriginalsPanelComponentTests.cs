using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>The dashboard's "counted by original" panel: how many cells the images are, honest intervals, the worst originals.</summary>
public class OriginalsPanelComponentTests : PortalTestContext
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];

    private static EvaluationReport Report()
    {
        // EOSINOPHIL originals 1 (10 copies, all right) and 2 (10 copies, all called NEUTROPHIL); NEUTROPHIL 3 and 4 all right, 5 with 2 of 10 wrong.
        var predictions = new List<ImagePrediction>();
        var groups = new Dictionary<string, int?>();
        void Original(int group, int label, int wrong)
        {
            for (int i = 0; i < 10; i++)
            {
                int predicted = i < wrong ? 1 - label : label;
                var p = new ImagePrediction($"{group}{i}", label, predicted == 0 ? [2f, -2f] : [-2f, 2f]);
                predictions.Add(p);
                groups[p.Key] = group;
            }
        }
        Original(1, 0, 0);
        Original(2, 0, 10);
        Original(3, 1, 0);
        Original(4, 1, 0);
        Original(5, 1, 2);
        return EvaluationReport.Build(Labels, predictions, groupOfKey: groups);
    }

    [Fact]
    public async Task Shows_the_originals_their_intervals_and_the_worst_originals_first()
    {
        await Services.MigrateAsync();
        var report = Report();
        var panel = Render<OriginalsPanel>(p => p.Add(x => x.EvaluationId, 1).Add(x => x.Report, report));

        var summary = panel.Find("[data-testid=originals-summary]").TextContent;
        Assert.Contains("50 images", summary);
        Assert.Contains("5 originals", summary);
        Assert.Contains("2 eosinophil, 3 neutrophil", summary);
        var o = report.ByOriginal!;
        Assert.Equal($"{o.AccuracyCi.Low:P1} – {o.AccuracyCi.High:P1}", panel.Find("[data-testid=originals-accuracy-ci]").TextContent);
        Assert.Equal(2, panel.FindAll("[data-testid=originals-recall] tbody tr").Count);

        var items = panel.FindAll("[data-testid=original-errors]").Select(e => e.TextContent).ToList();
        // Group 5 is a neutrophil: its two wrong copies were called eosinophil (not its own class, which it mostly is).
        Assert.Equal(["10 of 10 copies wrong, mostly called NEUTROPHIL instead", "2 of 10 copies wrong, mostly called EOSINOPHIL instead"], items);
        // 12 errors, all in the two mistaken originals
        Assert.Equal("100%", panel.Find("[data-testid=originals-top-share]").TextContent.Replace(" ", "").Replace("\u00a0", ""));
    }

    [Fact]
    public async Task Without_errors_the_panel_says_so()
    {
        await Services.MigrateAsync();
        var predictions = Enumerable.Range(0, 4).Select(i => new ImagePrediction($"k{i}", i % 2, i % 2 == 0 ? [2f, -2f] : [-2f, 2f])).ToList();
        var report = EvaluationReport.Build(Labels, predictions, groupOfKey: predictions.ToDictionary(p => p.Key, p => (int?)(p.Label + 1)));
        var panel = Render<OriginalsPanel>(p => p.Add(x => x.EvaluationId, 1).Add(x => x.Report, report));
        Assert.NotNull(panel.Find("[data-testid=originals-none]"));
        Assert.Empty(panel.FindAll("[data-testid=original-item]"));
    }
}
