using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Training;

/// <summary>
/// A run stopped and resumed from its checkpoints ends bit for bit where an unbroken run with the same seed ends:
/// the optimizer's state is restored and every random stream (shuffle, augmentation, dropout) is drawn per epoch.
/// </summary>
[Collection(nameof(TorchRandomCollection))]
public sealed class TrainerResumeEqualityTests : IDisposable
{
    private readonly TempDirectory dir = new("wbc-resume-eq");
    private readonly Trainer trainer = new(new TorchRuntime(new ComputeOptions { Device = "cpu" }),
        new BackboneRegistry([new ResNet18Backbone(PretrainedModelFiles.Default)]));

    public void Dispose() => dir.Dispose();

    private List<LabeledImage> Images(string part, int perClass, int seed) => TestImages.TwoClassPart(dir.Path, part, perClass, seed);

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.5)] // discriminative rates: the optimizer's state has one group per stage and must come back as it was
    public void A_run_stopped_three_times_and_resumed_ends_with_the_same_weights_and_figures_as_an_unbroken_one(double stageRateDecay)
    {
        var ct = TestContext.Current.CancellationToken;
        // Every source of divergence switched on: Adam's moments, dropout in the head (round 1 on cached features),
        // augmentation and shuffling in the fine-tune, a cosine schedule.
        var config = new TrainingConfig
        {
            InputHeight = 48,
            InputWidth = 64,
            Head = HeadSpec.Linear with { Dropout = 0.3 },
            Round1 = new RoundConfig { Epochs = 3, LearningRate = 3e-3 },
            Round2 = new RoundConfig { Epochs = 2, LearningRate = 1e-4, UnfrozenStages = stageRateDecay < 1 ? ["layer3", "layer4"] : ["layer4"], StageRateDecay = stageRateDecay },
            BatchSize = 8,
            Augmentation = new AugmentationConfig { Flips = true, RotationDegrees = 20, Shift = 0.05, ColorJitter = 0.1 },
            Optimizer = OptimizerKind.Adam,
            Schedule = LrSchedule.Cosine,
            // Never stops early here, but each round ends on its best epoch: a resume at a round's end must restore it too.
            EarlyStoppingPatience = 5,
            RestoreBestEpoch = true,
            Seed = 7,
            Device = "cpu",
        };
        var unbroken = new TrainingRequest(config, ["PURPLE", "TEAL"], Images("train", 12, 1), Images("val", 4, 500), Images("test", 4, 900),
            Path.Combine(dir.Path, $"unbroken{stageRateDecay}"));
        var broken = unbroken with { CheckpointDirectory = Path.Combine(dir.Path, $"broken{stageRateDecay}") };

        // Stopped in round 1 (head on cached features) after epoch 2, at its end, then in round 2 (fine-tune) after epoch 1.
        foreach (var (round, epoch) in new[] { (1, 2), (1, 3), (2, 1) })
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var stop = new SyncProgress(e => { if (e is CheckpointSaved c && c.Round == round && c.Epoch == epoch) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => trainer.Train(broken, stop, cts.Token));
            Assert.Equal((round, epoch), (Checkpoint.Load(broken.CheckpointDirectory)!.Round, Checkpoint.Load(broken.CheckpointDirectory)!.Epoch));
        }
        var resumed = trainer.Train(broken, null, ct);
        var whole = trainer.Train(unbroken, null, ct);
        using var a = whole.Model;
        using var b = resumed.Model;

        Assert.Equal([(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)], resumed.History.Select(h => (h.Round, h.Epoch)));
        // Bit-identical, not merely close: the same float operations in the same order.
        Assert.Equal(whole.History.Select(h => (h.TrainLoss, h.TrainAccuracy, h.ValLoss, h.ValAccuracy, h.LearningRate)),
            resumed.History.Select(h => (h.TrainLoss, h.TrainAccuracy, h.ValLoss, h.ValAccuracy, h.LearningRate)));
        Assert.Equal(whole.Rounds[^1].TestPredictions.Select(p => p.Logits), resumed.Rounds[^1].TestPredictions.Select(p => p.Logits));
        var wa = a.state_dict();
        var wb = b.state_dict();
        Assert.Equal(wa.Keys.Order(), wb.Keys.Order());
        foreach (var (name, tensor) in wa) Assert.True(tensor.equal(wb[name]).all().item<bool>(), $"{name} differs");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"final: train loss {whole.History[^1].TrainLoss:R} vs {resumed.History[^1].TrainLoss:R}, val acc {whole.History[^1].ValAccuracy:R} vs {resumed.History[^1].ValAccuracy:R}, test acc {whole.Rounds[^1].Test!.Accuracy:R} vs {resumed.Rounds[^1].Test!.Accuracy:R}");
    }

    private sealed class SyncProgress(Action<TrainingEvent> report) : IProgress<TrainingEvent>
    {
        public void Report(TrainingEvent value) => report(value);
    }
}
