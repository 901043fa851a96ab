using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Tests.Components;

/// <summary>The run page's live box says what a run is doing: training, or which evaluation.</summary>
public class LiveProgressBoxComponentTests : PortalTestContext
{
    private IRenderedComponent<LiveProgressBox> RenderBox(RunLiveProgress? live, RunStatus status = RunStatus.Running) =>
        Render<LiveProgressBox>(p => p.Add(x => x.Status, status).Add(x => x.Live, live).Add(x => x.Config, new WbcPortal.Engine.Training.TrainingConfig()));

    [Theory]
    [InlineData("features", "Computing frozen features…")]
    [InlineData("untrained", "Evaluating the untrained model…")]
    [InlineData("round1", "Evaluating round 1…")]
    [InlineData("round2", "Evaluating round 2…")]
    [InlineData("model val", "Evaluating the exported model on validation (and fitting its temperature)…")]
    [InlineData("model test", "Evaluating the exported model on test…")]
    public void An_evaluation_phase_shows_its_label_and_its_progress(string phase, string label)
    {
        var box = RenderBox(new RunLiveProgress(2, 3, 3, 5, 20, 0.4, 50, DateTimeOffset.UnixEpoch, phase));
        Assert.Equal(label, box.Find("[data-testid=live-phase]").TextContent.Trim());
        Assert.Contains("Batch 5 of 20", box.Markup);
        Assert.Empty(box.FindAll("[data-testid=run-progress]"));
    }

    [Fact]
    public void Training_shows_round_epoch_speed_and_both_progress_bars()
    {
        var box = RenderBox(new RunLiveProgress(1, 2, 2, 5, 10, 0.512, 48.3, DateTimeOffset.UnixEpoch));
        var line = box.Find("[data-testid=live-phase]").TextContent;
        Assert.Contains("Round 1 of 2", line);
        Assert.Contains("epoch 2 of 2", line);
        Assert.Contains("loss 0.512", line);
        Assert.Single(box.FindAll("[data-testid=run-progress]"));
        Assert.Single(box.FindAll("[data-testid=epoch-progress]"));
    }

    [Fact]
    public void A_queued_run_waits_for_the_worker() =>
        Assert.Contains("Queued", RenderBox(null, RunStatus.Queued).Find("[data-testid=live-phase]").TextContent);
}
