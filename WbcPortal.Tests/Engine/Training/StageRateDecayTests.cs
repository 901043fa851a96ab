using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Support;
using static TorchSharp.torch;

namespace WbcPortal.Tests.Engine.Training;

/// <summary>Discriminative learning rates by stage (issue 23's lever): each stage below the head moves at a share of the rate above it.</summary>
[Collection(nameof(TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class StageRateDecayTests : IDisposable
{
    private readonly TempDirectory dir = new("wbc-stage-rate");
    private readonly Trainer trainer = new(new TorchRuntime(new ComputeOptions { Device = "cpu" }),
        new BackboneRegistry([new ResNet18Backbone(PretrainedModelFiles.Default)]));

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Groups_cover_every_trainable_parameter_once_with_the_head_at_the_full_rate_and_each_stage_below_at_the_decay_of_the_one_above()
    {
        using var generator = new Generator(1);
        using var model = new WbcClassifier(new ResNet18Backbone(PretrainedModelFiles.Default).CreateResNet(), HeadSpec.Linear, 4, generator);
        model.SetTrainableStages(["stem", "layer1", "layer2", "layer3", "layer4"]);
        var groups = Trainer.StageRateGroups(model, new RoundConfig { Epochs = 1, LearningRate = 1e-3, StageRateDecay = 0.5 });
        Assert.Equal([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125], groups.Select(g => g.Scale));
        var all = groups.SelectMany(g => g.Parameters).ToList();
        Assert.Equal(model.parameters().Count(p => p.requires_grad), all.Count);
        Assert.Equal(all.Count, all.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.Same(model.Head.parameters().First(), groups[0].Parameters[0]);

        // Frozen stages get no group; decay 1 keeps one group (older checkpoints' optimizer state keeps its shape).
        model.SetTrainableStages(["layer4"]);
        Assert.Equal([1.0, 0.5], Trainer.StageRateGroups(model, new RoundConfig { Epochs = 1, LearningRate = 1e-3, StageRateDecay = 0.5 }).Select(g => g.Scale));
        Assert.Single(Trainer.StageRateGroups(model, new RoundConfig { Epochs = 1, LearningRate = 1e-3 }));
        Assert.Throws<ArgumentException>(() => new TrainingConfig { Round2 = new RoundConfig { Epochs = 1, LearningRate = 1e-3, StageRateDecay = 0 } }.Validate());
        Assert.Throws<ArgumentException>(() => new TrainingConfig { Round2 = new RoundConfig { Epochs = 1, LearningRate = 1e-3, StageRateDecay = 1.5 } }.Validate());
    }

    [Fact]
    public void With_a_small_decay_the_stem_barely_moves_while_the_head_learns_as_fast()
    {
        var ct = TestContext.Current.CancellationToken;
        var train = Images("train", 8, 1);
        var val = Images("val", 3, 500);
        double StemChange(double decay, out double headChange)
        {
            var config = new TrainingConfig
            {
                InputHeight = 48, InputWidth = 64,
                Round1 = new RoundConfig { Epochs = 0, LearningRate = 1e-3 },
                Round2 = new RoundConfig { Epochs = 1, LearningRate = 1e-3, UnfrozenStages = ["stem", "layer1", "layer2", "layer3", "layer4"], StageRateDecay = decay },
                BatchSize = 8, Optimizer = OptimizerKind.Adam, Seed = 3, Device = "cpu",
            };
            var request = new TrainingRequest(config, ["PURPLE", "TEAL"], train, val, [], Path.Combine(dir.Path, $"d{decay}"));
            using var trained = trainer.Train(request, null, ct).Model;
            using var generator = new Generator((ulong)Trainer.EpochSeed(config.Seed, 0, 0));
            using var initial = new WbcClassifier(new ResNet18Backbone(PretrainedModelFiles.Default).CreateResNet(), config.Head, 2, generator);
            double Change(Func<WbcClassifier, IEnumerable<TorchSharp.Modules.Parameter>> pick) =>
                pick(trained).Zip(pick(initial)).Average(p => (p.First - p.Second).abs().mean().item<float>());
            headChange = Change(m => m.Head.parameters());
            return Change(m => m.Backbone.Stages[0].Module.parameters());
        }
        double stemOne = StemChange(1, out double headOne);
        double stemSmall = StemChange(0.1, out double headSmall);
        TestContext.Current.TestOutputHelper?.WriteLine($"stem |Δ| {stemOne:E2} (decay 1) vs {stemSmall:E2} (decay 0.1); head {headOne:E2} vs {headSmall:E2}");
        // The stem's rate is 0.1^5 of the head's: Adam's steps scale with the rate, so it moves orders of magnitude less.
        Assert.True(stemSmall < stemOne / 100, $"stem moved {stemSmall:E2} with decay 0.1 against {stemOne:E2} with one rate");
        Assert.True(headSmall > headOne / 3, $"head moved {headSmall:E2} with decay 0.1 against {headOne:E2}");
    }

    private List<LabeledImage> Images(string part, int perClass, int seed) => TestImages.TwoClassPart(dir.Path, part, perClass, seed);
}
