using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Services.Evaluation;

namespace WbcPortal.Tests.Components;

/// <summary>The run facts: one mean speed over both rounds only where the rounds are alike.</summary>
public class RunFactsCardComponentTests : PortalTestContext
{
    [Fact]
    public void A_round_on_cached_features_is_not_averaged_with_the_fine_tune()
    {
        var byRound = new Dictionary<int, double> { [1] = 42_912.1, [2] = 16.3 };
        var cached = Render<RunFactsCard>(p => p.Add(x => x.Facts, new RunFacts(1317, WbcPortal.Engine.Compute.ComputeDevice.Cpu, 28_613.5, byRound, 2.244, Round1OnCachedFeatures: true)));
        Assert.Equal("by round:", cached.Find("[data-testid=mean-speed]").TextContent);
        Assert.DoesNotContain("over all epochs", cached.Markup);
        Assert.Contains("cached frozen features", cached.Markup);

        var alike = Render<RunFactsCard>(p => p.Add(x => x.Facts, new RunFacts(1317, WbcPortal.Engine.Compute.ComputeDevice.Cpu, 20.5, new Dictionary<int, double> { [1] = 21, [2] = 20 }, 1.5, Round1OnCachedFeatures: false)));
        Assert.Contains("over all epochs", alike.Find("[data-testid=mean-speed]").TextContent);
    }

    private static WbcPortal.Storage.Entities.RunEpoch Epoch(int round, int epoch, double val) =>
        new() { Round = round, Epoch = epoch, ValAccuracy = val, TrainAccuracy = val, TrainLoss = 1, ValLoss = 1, ImagesPerSecond = 10, Seconds = 1, LearningRate = 1e-3 };

    private static WbcPortal.Storage.Entities.Run Run(WbcPortal.Storage.Entities.RunStatus status, double? temperature) =>
        new() { Name = "r", ConfigJson = "{}", CheckpointDirectory = "runs/r", Status = status, Temperature = temperature };

    [Fact]
    public void An_early_stop_a_round_below_chance_and_a_temperature_at_its_bound_are_said_in_words()
    {
        var config = new WbcPortal.Engine.Training.TrainingConfig
        {
            Round1 = new WbcPortal.Engine.Training.RoundConfig { Epochs = 10, LearningRate = 1e-3 },
            Round2 = new WbcPortal.Engine.Training.RoundConfig { Epochs = 2, LearningRate = 1e-4, UnfrozenStages = ["layer4"] },
            EarlyStoppingPatience = 1,
        };
        // Round 1 stopped at epoch 2 of 10 with 23.5 % on 4 classes; round 2 ran both its epochs; T at the search's cap.
        var epochs = new[] { Epoch(1, 1, 0.235), Epoch(1, 2, 0.20), Epoch(2, 1, 0.6), Epoch(2, 2, 0.7) };
        var caveats = RunReportQueries.Caveats(Run(WbcPortal.Storage.Entities.RunStatus.Succeeded, 20), config, epochs, classes: 4);
        Assert.Equal(3, caveats.Count);
        Assert.Contains("Round 1 stopped early at epoch 2 of 10", caveats[0]);
        Assert.Contains("23.5 % at epoch 1, is the one kept", caveats[0]);
        Assert.Contains("Round 1 never beat chance", caveats[1]);
        Assert.Contains("25.0 %", caveats[1]);
        Assert.Contains("temperature, 20.00, is at the bound", caveats[2]);

        // A healthy run says nothing; a round still running is not "stopped early"; a stop asked for is not early stopping.
        Assert.Empty(RunReportQueries.Caveats(Run(WbcPortal.Storage.Entities.RunStatus.Succeeded, 1.4), config with { Round1 = config.Round1 with { Epochs = 2 } },
            [Epoch(1, 1, 0.7), Epoch(1, 2, 0.8), Epoch(2, 1, 0.85), Epoch(2, 2, 0.9)], 4));
        Assert.Empty(RunReportQueries.Caveats(Run(WbcPortal.Storage.Entities.RunStatus.Running, null), config, [Epoch(1, 1, 0.7), Epoch(1, 2, 0.8)], 4));
        Assert.Empty(RunReportQueries.Caveats(Run(WbcPortal.Storage.Entities.RunStatus.Cancelled, null), config, [Epoch(1, 1, 0.7), Epoch(1, 2, 0.8)], 4));
    }
}
