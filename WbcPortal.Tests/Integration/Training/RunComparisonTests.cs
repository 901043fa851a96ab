using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Components.Pages.Runs;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Training;

/// <summary>The run comparison over real SQLite in a temporary data folder, with runs seeded as training leaves them.</summary>
public sealed class RunComparisonTests : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-compare");
    private ServiceProvider services = null!;
    private RunComparison Comparison => services.GetRequiredService<RunComparison>();

    /// <summary>The baseline: the default recipe.</summary>
    public static readonly TrainingConfig ConfigA = new();

    /// <summary>The challenger: a cell crop, a faster partial fine-tune and full-turn rotations.</summary>
    public static readonly TrainingConfig ConfigB = new()
    {
        Crop = new CellCropSpec { Enabled = true, Size = 0.5 },
        Round1 = new RoundConfig { Epochs = 3, LearningRate = 1e-3 },
        Round2 = new RoundConfig { Epochs = 2, LearningRate = 3e-4, UnfrozenStages = ["layer3", "layer4"] },
        Augmentation = new AugmentationConfig { RotationDegrees = 180 },
    };

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
    }

    private async Task<(int A, int B)> SeedTwoAsync()
    {
        int a = await RunSeeds.AddRunAsync(services, "run-a", ConfigA, quality: 0.7, seconds: 120, imagesPerSecond: 50, temperature: 1.5, margin: 2);
        int b = await RunSeeds.AddRunAsync(services, "run-b", ConfigB, quality: 0.8, seconds: 300, imagesPerSecond: 40, temperature: 1.2, margin: 1.4);
        return (a, b);
    }

    private static FigureRow Row(RunComparisonResult result, string key) => Assert.Single(result.Figures, f => f.Key == key);

    [Fact]
    public void Flatten_turns_nested_objects_into_key_paths_and_arrays_into_joined_values()
    {
        var flat = RunComparison.Flatten(ConfigB.ToJson());

        Assert.Equal("0.5", flat["crop.size"]);
        Assert.Equal("true", flat["crop.enabled"]);
        Assert.Equal("0.0003", flat["round2.learningRate"]);
        Assert.Equal("layer3, layer4", flat["round2.unfrozenStages"]);
        Assert.Equal("", flat["round1.unfrozenStages"]);
        Assert.Equal("180", flat["augmentation.rotationDegrees"]);
        Assert.Equal("adam", flat["optimizer"]);
        Assert.Equal("constant", flat["schedule"]);
        Assert.Equal("120", flat["inputHeight"]);
        Assert.DoesNotContain("round2", flat.Keys);
        Assert.DoesNotContain("augmentation", flat.Keys);
        // the order of the JSON is kept, so the table reads like the configuration
        Assert.Equal("backbone", flat.Keys.First());
        Assert.True(flat.Keys.ToList().IndexOf("round1.epochs") < flat.Keys.ToList().IndexOf("round2.epochs"));
    }

    [Fact]
    public async Task A_leaky_run_is_never_coloured_as_a_gain_and_both_runs_carry_their_splits_honesty()
    {
        int a = await RunSeeds.AddRunAsync(services, "grouped-run", ConfigA, quality: 0.7);
        int b = await RunSeeds.AddRunAsync(services, "random-run", ConfigB, quality: 0.95, seconds: 60, split: "random-split", strategy: WbcPortal.Engine.Datasets.Splitting.SplitStrategy.Random);

        var result = await Comparison.CompareAsync([a, b], TestContext.Current.CancellationToken);

        Assert.Equal(WbcPortal.Engine.Datasets.Splitting.SplitHonestyStatus.LeakFree, result.Runs[0].Honesty.Status);
        Assert.Equal(WbcPortal.Engine.Datasets.Splitting.SplitHonestyStatus.LeakyByDesign, result.Runs[1].Honesty.Status);
        Assert.Equal(["random-run"], result.Untrusted.Select(r => r.Name));
        // the leaky run looks 25 points better on test: the difference is shown, but not judged
        var accuracy = Row(result, "model.accuracy");
        Assert.Equal(0.25, accuracy.Cells[1].Delta!.Value, 9);
        Assert.Equal(Verdict.Unjudged, accuracy.Cells[1].Verdict);
        Assert.All(result.Figures.Where(f => f.Section != RunComparison.RunSection), f => Assert.DoesNotContain(f.Cells, c => c.Verdict is Verdict.Better or Verdict.Worse));
        // the run's own facts (time) are not held-out figures: still judged
        Assert.Equal(Verdict.NotEstimated, Row(result, "seconds").Cells[1].Verdict);
    }

    [Fact]
    public async Task Suspect_pairs_on_either_side_also_stop_the_comparison_from_judging()
    {
        int a = await RunSeeds.AddRunAsync(services, "suspect-run", ConfigA, quality: 0.7, split: "suspect-split", suspectPairs: 3);
        int b = await RunSeeds.AddRunAsync(services, "clean-run", ConfigB, quality: 0.8);

        var result = await Comparison.CompareAsync([a, b], TestContext.Current.CancellationToken);

        Assert.Equal("3 suspect pair(s)", result.Runs[0].Honesty.Label);
        Assert.Equal(Verdict.Unjudged, Row(result, "model.accuracy").Cells[1].Verdict);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    [InlineData("42")]
    public void Flatten_of_something_that_is_no_configuration_gives_no_keys(string json) =>
        Assert.Empty(RunComparison.Flatten(json));

    [Fact]
    public void Config_diff_marks_differing_keys_and_keys_only_one_run_has()
    {
        var rows = RunComparison.DiffConfig([
            RunComparison.Flatten("""{"a":1,"b":{"c":[1,2]},"d":"x"}"""),
            RunComparison.Flatten("""{"a":1.0,"b":{"c":[1,3]},"e":true}"""),
        ]);

        Assert.Equal(["a", "b.c", "d", "e"], rows.Select(r => r.Key));
        Assert.False(rows[0].Differs); // 1 and 1.0 are the same number
        Assert.Equal(["1, 2", "1, 3"], rows[1].Values);
        Assert.True(rows[1].Differs);
        Assert.Equal(["x", null], rows[2].Values);
        Assert.True(rows[2].Differs);
        Assert.Equal([null, "true"], rows[3].Values);
    }

    [Fact]
    public async Task Two_runs_are_compared_figure_by_figure_against_the_first()
    {
        var (a, b) = await SeedTwoAsync();

        var result = await Comparison.CompareAsync([a, b], TestContext.Current.CancellationToken);

        Assert.Empty(result.MissingIds);
        Assert.Equal(["run-a", "run-b"], result.Runs.Select(r => r.Name));
        Assert.False(result.MixedSplits);
        var runB = result.Runs[1];
        Assert.Equal("seed-split", runB.Split);
        Assert.Equal(40, runB.MeanImagesPerSecond);
        Assert.Equal(1.2, runB.Temperature);
        Assert.Equal(["untrained", "round1", "round2"], runB.Stages.Select(s => s.Stage.Name()));
        Assert.Equal(0.8, runB.Model!.Accuracy, 9);
        Assert.Equal(RunSeeds.Labels, runB.Model.PerClass.Select(c => c.Label));
        Assert.True(runB.Model.AccuracyCi.Low < 0.8 && runB.Model.AccuracyCi.High > 0.8);

        // +10 points on 8 originals (4 a class): without per-image predictions stored, the noise comes from the two reports'
        // intervals by original, unpaired, and that is far wider than the difference: within noise, never a gain.
        var accuracy = Row(result, "model.accuracy");
        Assert.Equal(Better.Higher, accuracy.Better);
        Assert.Null(accuracy.Cells[0].Delta);
        Assert.Equal(Verdict.None, accuracy.Cells[0].Verdict);
        Assert.Equal(0.1, accuracy.Cells[1].Delta!.Value, 9);
        Assert.Equal(Verdict.WithinNoise, accuracy.Cells[1].Verdict);
        Assert.Contains("unpaired", accuracy.Cells[1].Noise!.Basis);
        Assert.True(accuracy.Cells[1].Noise!.Ci.Low < 0 && accuracy.Cells[1].Noise!.Ci.High > 0.1);
        Assert.NotNull(accuracy.Cells[1].Ci);
        // By original: the same accuracy with the cluster-bootstrap interval, wider than Wilson's; and how many originals.
        var byOriginal = Row(result, "model.accuracyByOriginal");
        Assert.Equal(0.8, byOriginal.Cells[1].Value!.Value, 9);
        Assert.Equal(runB.Model.AccuracyCiByOriginal, byOriginal.Cells[1].Ci);
        Assert.True(byOriginal.Cells[1].Ci!.High - byOriginal.Cells[1].Ci!.Low > accuracy.Cells[1].Ci!.High - accuracy.Cells[1].Ci!.Low,
            "copies of one original are not independent: the interval by original is the wider");
        Assert.Equal(Verdict.WithinNoise, byOriginal.Cells[1].Verdict);
        Assert.Equal(RunSeeds.Labels.Count * RunSeeds.PerClass / RunSeeds.ImagesPerOriginal, Row(result, "model.originals").Cells[1].Value);
        Assert.Equal(Verdict.Same, Row(result, "model.originals").Cells[1].Verdict);
        // The trainer's round figures and the F1s have no interval and no per-image record here: shown, not judged.
        Assert.Equal(Verdict.NotEstimated, Row(result, "round2.test.accuracy").Cells[1].Verdict);
        Assert.Equal(0.1, Row(result, "round1.val.accuracy").Cells[1].Delta!.Value, 9);
        Assert.Equal(Verdict.Same, Row(result, "untrained.test.accuracy").Cells[1].Verdict);
        Assert.Equal(Verdict.WithinNoise, Row(result, "class.EOSINOPHIL.recall").Cells[1].Verdict);
        Assert.Equal(Verdict.NotEstimated, Row(result, "class.LYMPHOCYTE.f1").Cells[1].Verdict);
        Assert.Equal(-10, Row(result, "imagesPerSecond").Cells[1].Delta!.Value, 9);
        Assert.Equal(Verdict.NotEstimated, Row(result, "imagesPerSecond").Cells[1].Verdict);

        // lower is better: calibration error and time; one measurement of time each, so not judged; the temperature is only different
        var ece = Row(result, "model.eceRaw");
        Assert.Equal(Better.Lower, ece.Better);
        Assert.True(ece.Cells[1].Delta < 0);
        Assert.Equal(Verdict.NotEstimated, ece.Cells[1].Verdict);
        var calibrated = Row(result, "model.eceCalibrated").Cells[1];
        Assert.NotNull(calibrated.Noise);
        Assert.Equal(calibrated.Noise!.OutsideNoise ? RunComparison.Judge(calibrated.Delta!.Value, Better.Lower) : Verdict.WithinNoise, calibrated.Verdict);
        Assert.Equal(180, Row(result, "seconds").Cells[1].Delta!.Value, 9);
        Assert.Equal(Verdict.NotEstimated, Row(result, "seconds").Cells[1].Verdict);
        Assert.Equal(Verdict.Changed, Row(result, "temperature").Cells[1].Verdict);

        // the configuration: what B changed, and only that
        var differing = result.DifferingConfig.Select(c => c.Key).ToList();
        Assert.Equal(["crop.enabled", "crop.size", "round1.epochs", "round2.learningRate", "round2.unfrozenStages", "augmentation.rotationDegrees"], differing);
        var lr = Assert.Single(result.Config, c => c.Key == "round2.learningRate");
        Assert.Equal(["0.0001", "0.0003"], lr.Values);
        Assert.Contains(result.Config, c => c.Key == "batchSize" && !c.Differs);

        // epochs on one axis across both rounds: round 2 starts after each run's own round 1
        Assert.Equal([1, 2, 3, 4, 5], runB.Epochs.Select(e => e.Index));
        Assert.Equal([1, 1, 1, 2, 2], runB.Epochs.Select(e => e.Round));
        Assert.Equal(3, runB.Round1Epochs);
        Assert.Equal(2, result.Runs[0].Round1Epochs);
    }

    [Fact]
    public async Task The_order_asked_for_picks_the_baseline_and_unknown_ids_are_reported()
    {
        var (a, b) = await SeedTwoAsync();

        var result = await Comparison.CompareAsync([b, 999, b, a], TestContext.Current.CancellationToken);

        Assert.Equal([b, a], result.Runs.Select(r => r.Id));
        Assert.Equal([999], result.MissingIds);
        Assert.Equal(-0.1, Row(result, "model.accuracy").Cells[1].Delta!.Value, 9);
        Assert.Equal(Verdict.WithinNoise, Row(result, "model.accuracy").Cells[1].Verdict);
        Assert.Equal(Verdict.NotEstimated, Row(result, "model.eceRaw").Cells[1].Verdict);
    }

    [Fact]
    public async Task Runs_on_different_splits_are_flagged_and_a_run_without_a_model_has_no_model_figures()
    {
        int a = await RunSeeds.AddRunAsync(services, "run-a", ConfigA, quality: 0.7);
        int c = await RunSeeds.AddRunAsync(services, "run-c", ConfigA, quality: 0.6, split: "other-split");
        var contexts = services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<WbcPortal.Storage.WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync(TestContext.Current.CancellationToken))
        {
            db.RunEvaluations.RemoveRange(db.RunEvaluations.Where(e => e.RunId == c && e.Stage == WbcPortal.Engine.Training.TrainingStage.Model));
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        var result = await Comparison.CompareAsync([a, c], TestContext.Current.CancellationToken);

        Assert.True(result.MixedSplits);
        Assert.Null(result.Runs[1].Model);
        var accuracy = Row(result, "model.accuracy");
        Assert.Null(accuracy.Cells[1].Value);
        Assert.Null(accuracy.Cells[1].Delta);
        Assert.Equal(Verdict.None, accuracy.Cells[1].Verdict);
        Assert.Empty(result.DifferingConfig);
    }

    [Fact]
    public async Task No_ids_give_an_empty_comparison()
    {
        var result = await Comparison.CompareAsync([], TestContext.Current.CancellationToken);
        Assert.Empty(result.Runs);
        Assert.Null(result.Baseline);
        Assert.Empty(result.Config);
    }

    [Theory]
    [InlineData(0.01, Better.Higher, Verdict.Better)]
    [InlineData(-0.01, Better.Higher, Verdict.Worse)]
    [InlineData(-0.01, Better.Lower, Verdict.Better)]
    [InlineData(0.01, Better.Lower, Verdict.Worse)]
    [InlineData(0.01, Better.Neither, Verdict.Changed)]
    [InlineData(1e-12, Better.Higher, Verdict.Same)]
    public void A_difference_is_judged_by_which_way_the_figure_improves(double delta, Better better, Verdict expected) =>
        Assert.Equal(expected, RunComparison.Judge(delta, better));

    [Theory]
    [InlineData(null, new int[0], new string[0])]
    [InlineData("3,1", new[] { 3, 1 }, new string[0])]
    [InlineData(" 2, 2 ,5,", new[] { 2, 5 }, new string[0])]
    [InlineData("1,abc,-4,7", new[] { 1, 7 }, new[] { "abc", "-4" })]
    public void The_address_lists_run_ids_in_order(string? ids, int[] expected, string[] invalid)
    {
        var (parsed, bad) = ComparePage.ParseIds(ids);
        Assert.Equal(expected, parsed);
        Assert.Equal(invalid, bad);
        Assert.Equal(expected.Length == 0 ? "runs/compare" : $"runs/compare?ids={string.Join(",", expected)}", ComparePage.Url(parsed));
        Assert.EndsWith("all=true", ComparePage.Url(parsed, allKeys: true));
    }

    [Fact]
    public async Task Runs_that_tested_the_same_images_are_judged_paired_by_image_and_a_difference_beyond_noise_is_a_gain()
    {
        int a = await RunSeeds.AddRunAsync(services, "run-a", ConfigA, quality: 0.7, margin: 2, storePredictions: true);
        int b = await RunSeeds.AddRunAsync(services, "run-b", ConfigB, quality: 0.8, margin: 1.4, storePredictions: true);
        int same = await RunSeeds.AddRunAsync(services, "run-same", ConfigB, quality: 0.7, margin: 2, storePredictions: true);

        var result = await Comparison.CompareAsync([a, b, same], TestContext.Current.CancellationToken);

        // B is right on every image A is right on, and on 4 more of 40: every draw of the same images gains.
        var accuracy = Row(result, "model.accuracy").Cells[1];
        Assert.Equal(Verdict.Better, accuracy.Verdict);
        Assert.StartsWith("paired by original", accuracy.Noise!.Basis);
        Assert.True(accuracy.Noise.Ci.Low > 0 && accuracy.Noise.Ci.High <= 0.2 + 1e-9, $"{accuracy.Noise.Ci}");
        // Within one class the same gain rests on 2 images of 20: a draw misses both about one time in eight, so it is noise.
        Assert.Equal(Verdict.WithinNoise, Row(result, "class.EOSINOPHIL.recall").Cells[1].Verdict);
        Assert.NotEqual(Verdict.NotEstimated, Row(result, "model.macroF1").Cells[1].Verdict);
        // Raw ECE is judged too; on 40 images it is noisy (a draw's accuracy moves while the confidence stays): within noise here.
        Assert.Equal(Verdict.WithinNoise, Row(result, "model.eceRaw").Cells[1].Verdict);
        // The same predictions: no difference at all, and an interval of exactly zero.
        var unchanged = Row(result, "model.accuracy").Cells[2];
        Assert.Equal(Verdict.Same, unchanged.Verdict);
        Assert.Equal(new WbcPortal.Engine.Evaluation.Interval(0, 0), unchanged.Noise!.Ci);
    }

    [Theory]
    [InlineData(0.05, 0.01, 0.09, true, Verdict.Better)]
    [InlineData(0.05, -0.01, 0.11, true, Verdict.WithinNoise)]
    [InlineData(0.05, 0.01, 0.09, false, Verdict.Unjudged)]
    [InlineData(-0.05, -0.09, -0.01, true, Verdict.Worse)]
    public void A_difference_is_a_gain_or_a_loss_only_beyond_its_noise_and_on_leak_free_splits(double delta, double low, double high, bool trusted, Verdict expected)
    {
        var noise = new NoiseEstimate(new WbcPortal.Engine.Evaluation.Interval(low, high), "test");
        Assert.Equal(expected, RunComparison.Judge(delta, Better.Higher, noise, trusted));
        Assert.Equal(Verdict.NotEstimated, RunComparison.Judge(delta, Better.Higher, null, true));
        Assert.Equal(Verdict.Same, RunComparison.Judge(0, Better.Higher, null, true));
    }

    [Theory]
    [InlineData(FigureKind.Percent, 0.051, "+5.1 pt")]
    [InlineData(FigureKind.Percent, -0.1, "−10.0 pt")]
    [InlineData(FigureKind.Score, 0.0123, "+0.012")]
    [InlineData(FigureKind.Seconds, -75, "1 min 15 s shorter")] // never "−0:01:15", which beside a time reads like a sum
    [InlineData(FigureKind.ImagesPerSecond, 0, "±0.0")]
    public void Differences_read_as_signed_points_numbers_and_durations(FigureKind kind, double delta, string expected) =>
        Assert.Equal(expected, CompareFormat.Delta(kind, delta));
}
