using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Training;

/// <summary>Torch's random generator is process-wide: training tests run alone, so another test's draws cannot change a seeded run.</summary>
[CollectionDefinition(nameof(TorchRandomCollection), DisableParallelization = true)]
[Trait("Category", "Torch")]
public sealed class TorchRandomCollection;

/// <summary>The two-round loop on a small task the tests draw: purple nuclei vs teal nuclei.</summary>
[Collection(nameof(TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class TrainerTests : IDisposable
{
    private readonly TempDirectory dir = new("wbc-train");
    private readonly Trainer trainer;

    public TrainerTests()
    {
        var backbone = new ResNet18Backbone(PretrainedModelFiles.Default);
        trainer = new Trainer(new TorchRuntime(new ComputeOptions { Device = "cpu" }), new BackboneRegistry([backbone]));
    }

    public void Dispose() => dir.Dispose();

    private List<LabeledImage> Images(string part, int perClass, int seed) => TestImages.TwoClassPart(dir.Path, part, perClass, seed);

    private TrainingRequest Request(string checkpoints) => new(
        new TrainingConfig
        {
            InputHeight = 48,
            InputWidth = 64,
            Head = HeadSpec.Linear with { Dropout = 0 },
            Round1 = new RoundConfig { Epochs = 3, LearningRate = 3e-3 },
            Round2 = new RoundConfig { Epochs = 2, LearningRate = 1e-4, UnfrozenStages = ["layer4"] },
            BatchSize = 8,
            Augmentation = new AugmentationConfig { Flips = true, RotationDegrees = 10, Shift = 0.05, ColorJitter = 0 },
            Seed = 5,
            Device = "cpu",
        },
        ["PURPLE", "TEAL"],
        Images("train", 16, 1),
        Images("val", 6, 500),
        Images("test", 6, 900),
        Path.Combine(dir.Path, checkpoints));

    [Fact]
    public void Two_rounds_learn_the_task_and_report_every_epoch_and_evaluation()
    {
        var events = new List<TrainingEvent>();
        var outcome = trainer.Train(Request("run"), new SyncProgress(events.Add), TestContext.Current.CancellationToken);
        using var model = outcome.Model;

        Assert.Equal(["untrained", "round1", "round2"], outcome.Rounds.Select(r => r.Stage.Name()));
        Assert.Equal([(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)], outcome.History.Select(h => (h.Round, h.Epoch)));
        Assert.True(outcome.Rounds[2].Validation.Accuracy >= 0.9, $"val accuracy {outcome.Rounds[2].Validation.Accuracy}");
        Assert.NotNull(outcome.Rounds[2].Test);
        Assert.True(outcome.History[^1].TrainLoss < outcome.History[0].TrainLoss, "train loss should fall");
        Assert.Equal(5, events.OfType<EpochCompleted>().Count());
        Assert.Equal(3, events.OfType<Evaluated>().Count());
        Assert.Contains(events.OfType<BatchCompleted>(), b => b.ImagesPerSecond > 0);
        Assert.True(File.Exists(Path.Combine(dir.Path, "run", Checkpoint.FileName)));
        Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, "run"), "weights-*.bin"));
    }

    [Fact]
    public void A_run_stopped_after_an_epoch_resumes_with_no_epoch_lost_or_repeated()
    {
        var request = Request("resumed");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var stopAfter = new SyncProgress(e => { if (e is CheckpointSaved { Round: 1, Epoch: 2 }) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Train(request, stopAfter, cts.Token));
        var saved = Checkpoint.Load(request.CheckpointDirectory);
        Assert.NotNull(saved);
        Assert.Equal((1, 2), (saved.Round, saved.Epoch));

        var epochs = new List<(int, int)>();
        var outcome = trainer.Train(request, new SyncProgress(e => { if (e is EpochCompleted { Replayed: false } c) epochs.Add((c.Record.Round, c.Record.Epoch)); }), TestContext.Current.CancellationToken);
        using var model = outcome.Model;
        Assert.Equal([(1, 3), (2, 1), (2, 2)], epochs);
        Assert.Equal([(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)], outcome.History.Select(h => (h.Round, h.Epoch)));
    }

    [Fact]
    public void The_same_seed_and_data_give_the_same_figures()
    {
        var first = Request("seed-a");
        var config = first.Config with { Round1 = first.Config.Round1 with { Epochs = 2 }, Round2 = first.Config.Round2 with { Epochs = 1 } };
        var a = trainer.Train(first with { Config = config }, null, TestContext.Current.CancellationToken);
        var b = trainer.Train(first with { Config = config, CheckpointDirectory = Path.Combine(dir.Path, "seed-b") }, null, TestContext.Current.CancellationToken);
        using (a.Model)
        using (b.Model)
        {
            Assert.Equal(a.History.Select(h => (h.TrainLoss, h.ValLoss, h.ValAccuracy)), b.History.Select(h => (h.TrainLoss, h.ValLoss, h.ValAccuracy)));
            Assert.Equal(a.Rounds[^1].TestPredictions.Select(p => p.Logits), b.Rounds[^1].TestPredictions.Select(p => p.Logits));
        }
    }

    [Fact]
    public void Cell_crop_with_early_stopping_ends_each_round_on_its_best_epoch()
    {
        var request = Request("crop");
        var config = request.Config with
        {
            Crop = new WbcPortal.Engine.Imaging.CellCrop.CellCropSpec { Enabled = true, Size = 0.8 },
            InputHeight = 40,
            InputWidth = 40,
            Round1 = request.Config.Round1 with { Epochs = 4, LearningRate = 5e-2 },
            Round2 = request.Config.Round2 with { Epochs = 3, LearningRate = 1e-3 },
            Augmentation = new AugmentationConfig { Flips = true, RotationDegrees = 180, Shift = 0.05, Scale = 0.1, ColorJitter = 0.1 },
            EarlyStoppingPatience = 1,
        };
        var events = new List<TrainingEvent>();
        var outcome = trainer.Train(request with { Config = config }, new SyncProgress(events.Add), TestContext.Current.CancellationToken);
        using var model = outcome.Model;

        // Each round's final evaluation is the model of its best validation epoch.
        foreach (var round in new[] { 1, 2 })
        {
            var best = outcome.History.Where(h => h.Round == round).Max(h => h.ValAccuracy);
            Assert.Equal(best, outcome.Rounds.Single(r => r.Stage == TrainingStages.AfterRound(round)).Validation.Accuracy, 6);
        }
        Assert.Contains(events, e => e is EvaluationProgress { Stage: "features" });
        var final = outcome.Rounds[^1];
        Assert.Equal(request.Test.Count, final.TestPredictions.Count);
        Assert.All(final.TestPredictions, p => Assert.Equal(2, p.Logits.Length));
        Assert.Equal(final.Test!.Accuracy, final.TestPredictions.Count(p => p.Predicted == p.Label) / (double)final.TestPredictions.Count, 6);
    }

    [Fact]
    public void Label_smoothing_keeps_the_training_loss_off_zero_and_old_configurations_read_without_it()
    {
        // A separable task: without smoothing the head's loss falls toward 0; with 0.3 the target itself has entropy,
        // so the loss cannot fall under it (for two classes, -(0.85 ln 0.85 + 0.15 ln 0.15) = 0.423).
        var request = Request("smooth");
        var plainConfig = request.Config with { Round1 = request.Config.Round1 with { Epochs = 3, LearningRate = 5e-2 }, Round2 = request.Config.Round2 with { Epochs = 0 } };
        var plain = trainer.Train(request with { Config = plainConfig }, null, TestContext.Current.CancellationToken);
        var smooth = trainer.Train(request with { Config = plainConfig with { LabelSmoothing = 0.3 }, CheckpointDirectory = Path.Combine(dir.Path, "smooth-b") }, null, TestContext.Current.CancellationToken);
        using (plain.Model)
        using (smooth.Model)
        {
            double floor = -(0.85 * Math.Log(0.85) + 0.15 * Math.Log(0.15));
            Assert.True(smooth.History[^1].TrainLoss >= floor - 1e-3, $"smoothed loss {smooth.History[^1].TrainLoss} under the target's entropy {floor}");
            Assert.True(plain.History[^1].TrainLoss < smooth.History[^1].TrainLoss, $"plain {plain.History[^1].TrainLoss}, smoothed {smooth.History[^1].TrainLoss}");
        }
        Assert.Contains("Label smoothing", Assert.Throws<ArgumentException>(() => (plainConfig with { LabelSmoothing = 0.6 }).Validate()).Message);
        Assert.Contains("target accuracy", Assert.Throws<ArgumentException>(() => (plainConfig with { RejectTargetAccuracy = 0.3 }).Validate()).Message);
        var old = TrainingConfig.FromJson("{\"round1\": {\"epochs\": 1, \"learningRate\": 0.001}}");
        Assert.Equal((0.0, 0.95), (old.LabelSmoothing, old.RejectTargetAccuracy));
    }

    [Fact]
    public void Wrong_configuration_and_data_are_refused_with_a_reason()
    {
        Assert.Contains("epoch", Assert.Throws<ArgumentException>(() => new TrainingConfig { Round1 = new RoundConfig(), Round2 = new RoundConfig() }.Validate()).Message);
        Assert.Contains("unknown stage", Assert.Throws<ArgumentException>(() => new TrainingConfig { Round2 = new RoundConfig { Epochs = 1, LearningRate = 1e-4, UnfrozenStages = ["layer9"] } }.Validate()).Message);
        Assert.Contains("Not a valid", Assert.Throws<ArgumentException>(() => TrainingConfig.FromJson("{ nope")).Message);
        var request = Request("bad");
        var oneClass = request with { Train = request.Train.Where(i => i.Label == 0).ToList() };
        Assert.Contains("one class", Assert.Throws<ArgumentException>(() => trainer.Train(oneClass, null, TestContext.Current.CancellationToken)).Message);
    }

    [Fact]
    public void Configurations_round_trip_through_json_and_presets_are_valid()
    {
        foreach (var (_, preset) in TrainingPresets.All)
        {
            preset.Validate();
            var back = TrainingConfig.FromJson(preset.ToJson());
            Assert.Equal(preset.ToJson(), back.ToJson());
        }
        Assert.Equal([1024, 512, 128, 64, 8], TrainingPresets.Get("study").Head.Hidden);
    }

    private sealed class SyncProgress(Action<TrainingEvent> report) : IProgress<TrainingEvent>
    {
        public void Report(TrainingEvent value) => report(value);
    }
}
