using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Support;
using static TorchSharp.torch;

namespace WbcPortal.Tests.Engine.Training;

/// <summary>
/// Runs in one process leave each other's figures alone: a run draws nothing from torch's process-wide generator (head
/// initialisation and dropout come from its own generator, shuffling and augmentation from its own seeded Randoms), so
/// run A ends bit for bit the same alone, after other runs and torch draws, and while run B trains beside it on another thread.
/// </summary>
// In the collection anyway: the concurrent case puts two trainings on the two cores.
[Collection(nameof(TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class TrainerIsolationTests : IDisposable
{
    private readonly TempDirectory dir = new("wbc-isolation");
    private readonly Trainer trainer = new(new TorchRuntime(new ComputeOptions { Device = "cpu" }),
        new BackboneRegistry([new ResNet18Backbone(PretrainedModelFiles.Default)]));

    public void Dispose() => dir.Dispose();

    private List<LabeledImage> Images(string part, int perClass, int seed)
    {
        var list = new List<LabeledImage>();
        for (int label = 0; label < 2; label++)
        {
            for (int i = 0; i < perClass; i++)
            {
                using var image = TestImages.Smear(64, 48, seed + 100 * label + i);
                if (label == 1) image.Mutate(c => c.Hue(150));
                var path = Path.Combine(dir.Path, part, $"{label}_{i}.png");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                image.SaveAsPng(path);
                list.Add(new LabeledImage($"{part}/{label}/{i}", path, label));
            }
        }
        return list;
    }

    private TrainingRequest Request(string name, int seed, double dropout) => new(
        new TrainingConfig
        {
            InputHeight = 48,
            InputWidth = 64,
            // A hidden layer and dropout: initialisation and masks both matter.
            Head = new HeadSpec([16], dropout),
            Round1 = new RoundConfig { Epochs = 2, LearningRate = 3e-3 },
            Round2 = new RoundConfig { Epochs = 1, LearningRate = 1e-4, UnfrozenStages = ["layer4"] },
            BatchSize = 8,
            Augmentation = new AugmentationConfig { Flips = true, RotationDegrees = 20, Shift = 0.05, ColorJitter = 0.1 },
            Seed = seed,
            Device = "cpu",
        },
        ["PURPLE", "TEAL"], Images("train", 10, 1), Images("val", 4, 500), Images("test", 4, 900), Path.Combine(dir.Path, name));

    private sealed record Figures(IReadOnlyList<(double, double, double, double)> History, IReadOnlyList<float[]> TestLogits, IReadOnlyList<(string, double)> Weights);

    private Figures Train(TrainingRequest request)
    {
        var outcome = trainer.Train(request, null, TestContext.Current.CancellationToken);
        using var model = outcome.Model;
        // A checksum per tensor (sum and sum of squares in double): any changed weight shows.
        var weights = model.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => (p.Key, p.Value.to(ScalarType.Float64).sum().item<double>() + p.Value.to(ScalarType.Float64).square().sum().item<double>())).ToList();
        return new Figures(outcome.History.Select(h => (h.TrainLoss, h.TrainAccuracy, h.ValLoss, h.ValAccuracy)).ToList(),
            outcome.Rounds[^1].TestPredictions.Select(p => p.Logits).ToList(), weights);
    }

    private static void AssertSame(Figures expected, Figures actual)
    {
        Assert.Equal(expected.History, actual.History);
        Assert.Equal(expected.TestLogits, actual.TestLogits);
        Assert.Equal(expected.Weights, actual.Weights);
    }

    [Fact]
    public async Task A_run_ends_the_same_alone_after_other_torch_draws_and_beside_another_run()
    {
        var ct = TestContext.Current.CancellationToken;
        var alone = Train(Request("a-alone", seed: 5, dropout: 0.3));

        // Another run, then torch's process-wide generator seeded and drawn from, then A again.
        Train(Request("b-before", seed: 6, dropout: 0.5));
        manual_seed(123);
        using (rand(1000)) { }
        AssertSame(alone, Train(Request("a-after", seed: 5, dropout: 0.3)));

        // A and B at once on two threads, each drawing its masks while the other does; torch draws on a third meanwhile.
        using var go = new Barrier(3);
        var requestA = Request("a-beside", seed: 5, dropout: 0.3);
        var requestB = Request("b-beside", seed: 6, dropout: 0.5);
        var a = Task.Factory.StartNew(() => { go.SignalAndWait(ct); return Train(requestA); }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var b = Task.Factory.StartNew(() => { go.SignalAndWait(ct); return Train(requestB); }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        go.SignalAndWait(ct);
        while (!a.IsCompleted)
        {
            using (rand(100)) { }
            await Task.Delay(20, ct);
        }
        AssertSame(alone, await a);
        await b;
    }

    [Fact]
    public void The_head_is_initialised_from_the_run_seed_not_from_torch_global_state()
    {
        using var g1 = new Generator(17);
        manual_seed(1);
        using var first = new WbcClassifier(new ResNet18Backbone(PretrainedModelFiles.Default).CreateResNet(pretrained: false), new HeadSpec([8], 0.2), 3, g1);
        using var g2 = new Generator(17);
        manual_seed(2);
        using var second = new WbcClassifier(new ResNet18Backbone(PretrainedModelFiles.Default).CreateResNet(pretrained: false), new HeadSpec([8], 0.2), 3, g2);
        foreach (var (a, b) in first.Head.parameters().Zip(second.Head.parameters())) Assert.True(a.equal(b).all().item<bool>());
    }
}
