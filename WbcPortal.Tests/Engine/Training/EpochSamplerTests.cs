using WbcPortal.Engine.Training;

namespace WbcPortal.Tests.Engine.Training;

public sealed class EpochSamplerTests
{
    /// <summary>Class 0: 2 originals of 50 copies each; class 1: 10 originals of 3 copies each (the Kaggle set's shape, small).</summary>
    private static List<LabeledImage> Train()
    {
        var list = new List<LabeledImage>();
        for (int g = 0; g < 2; g++)
            for (int c = 0; c < 50; c++) list.Add(new LabeledImage($"a{g}-{c}", $"a{g}-{c}.png", 0, g));
        for (int g = 0; g < 10; g++)
            for (int c = 0; c < 3; c++) list.Add(new LabeledImage($"b{g}-{c}", $"b{g}-{c}.png", 1, 100 + g));
        return list;
    }

    [Fact]
    public void Every_copy_is_the_old_pass()
    {
        var train = Train();
        Assert.Same(train, EpochSampler.Draw(train, new SamplingConfig(), 1, 2, 1));
    }

    [Fact]
    public void By_original_draws_views_per_original_with_classes_balanced_by_originals()
    {
        var train = Train();
        var sampling = new SamplingConfig { Mode = SamplingMode.ByOriginal, ViewsPerOriginal = 4 };
        var epoch = EpochSampler.Draw(train, sampling, 7, 2, 1);
        Assert.Equal(4 * 12, epoch.Count);
        // Balanced: each class gets half the views, whatever its originals and copies.
        Assert.Equal(24, epoch.Count(i => i.Label == 0));
        Assert.Equal(24, epoch.Count(i => i.Label == 1));
        // Spread evenly over a class's originals, copies used in turn before one repeats.
        Assert.All(epoch.Where(i => i.Label == 0).GroupBy(i => i.Group), g => { Assert.Equal(12, g.Count()); Assert.Equal(12, g.Distinct().Count()); });
        Assert.All(epoch.Where(i => i.Label == 1).GroupBy(i => i.Group), g => Assert.InRange(g.Count(), 2, 3));
        Assert.Equal(10, epoch.Where(i => i.Label == 1).Select(i => i.Group).Distinct().Count());
    }

    [Fact]
    public void Unbalanced_gives_each_original_the_same_views_and_an_image_without_a_group_is_its_own_original()
    {
        var train = Train();
        train.Add(new LabeledImage("lone", "lone.png", 1));
        var epoch = EpochSampler.Draw(train, new SamplingConfig { Mode = SamplingMode.ByOriginal, ViewsPerOriginal = 2, BalanceClasses = false }, 7, 2, 1);
        Assert.Equal(2 * 13, epoch.Count);
        Assert.Equal(2, epoch.Count(i => i.Key == "lone"));
    }

    [Fact]
    public void The_draw_depends_only_on_seed_round_and_epoch()
    {
        var sampling = new SamplingConfig { Mode = SamplingMode.ByOriginal, ViewsPerOriginal = 3 };
        var a = EpochSampler.Draw(Train(), sampling, 7, 2, 3).Select(i => i.Key).Order().ToList();
        var b = EpochSampler.Draw(Train(), sampling, 7, 2, 3).Select(i => i.Key).Order().ToList();
        var other = EpochSampler.Draw(Train(), sampling, 7, 2, 4).Select(i => i.Key).Order().ToList();
        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
    }

    [Fact]
    public void Wrong_settings_are_refused_with_the_reason()
    {
        var config = TrainingPresets.Get("default") with { Sampling = new SamplingConfig { Mode = SamplingMode.ByOriginal, ViewsPerOriginal = 0 } };
        Assert.Contains("Views per original", Assert.Throws<ArgumentException>(config.Validate).Message);
        var json = (TrainingPresets.Get("default") with { Sampling = new SamplingConfig { Mode = SamplingMode.ByOriginal, ViewsPerOriginal = 6 } }).ToJson();
        Assert.Contains("\"byOriginal\"", json, StringComparison.Ordinal);
        Assert.Equal(SamplingMode.ByOriginal, TrainingConfig.FromJson(json).Sampling.Mode);
        Assert.Equal(6, TrainingConfig.FromJson(json).Sampling.ViewsPerOriginal);
    }
}
