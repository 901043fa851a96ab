using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;

namespace WbcPortal.Tests.Engine;

/// <summary>The typed values' printed names (the CLI's JSON and the stored form) and the evaluation source's printed form, both ways.</summary>
public sealed class TypedValueNamesTests
{
    [Fact]
    public void Names_are_the_printed_words_and_parse_back()
    {
        Assert.Equal(["untrained", "round1", "round2", "model"], Enum.GetValues<TrainingStage>().Select(s => s.Name()));
        Assert.All(Enum.GetValues<TrainingStage>(), s => Assert.Equal(s, TrainingStages.Parse(s.Name())));
        Assert.Equal(TrainingStage.Round2, TrainingStages.AfterRound(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingStages.AfterRound(3));
        Assert.Throws<FormatException>(() => TrainingStages.Parse("Round1"));

        Assert.Equal(["cpu", "cuda"], Enum.GetValues<ComputeDevice>().Select(d => d.Name()));
        Assert.All(Enum.GetValues<ComputeDevice>(), d => Assert.Equal(d, ComputeDevices.Parse(d.Name())));
        Assert.False(ComputeDevices.TryParse("auto", out _));

        Assert.Equal(["random", "grouped", "folders"], Enum.GetValues<SplitStrategy>().Select(s => s.Name()));
        Assert.True(SplitStrategies.TryParse("Grouped", out var grouped));
        Assert.Equal(SplitStrategy.Grouped, grouped);
        Assert.False(SplitStrategies.TryParse("stratified", out _));

        Assert.Equal(["train", "val", "test"], Enum.GetValues<SplitPart>().Select(p => p.Name()));
        Assert.Equal(SplitParts.All, SplitParts.Values.Select(p => p.Name()));
        Assert.All(Enum.GetValues<SplitPart>(), p => Assert.Equal(p, SplitParts.Parse(p.Name())));
        Assert.Equal("validation", SplitPart.Validation.Title());
        Assert.False(SplitParts.TryParse("validation", out _));
        Assert.False(SplitParts.TryParse("folder", out _));
        Assert.Throws<FormatException>(() => SplitParts.Parse("Val"));
        Assert.Throws<ArgumentOutOfRangeException>(() => ((SplitPart)7).Name());
    }

    [Theory]
    [InlineData("split cells / val")]
    [InlineData("split a / b / test (flips on)")]
    [InlineData("folder /data/new cells")]
    [InlineData("zip cells.zip (flips off)")]
    public void A_source_prints_as_stored_before_and_parses_back(string text)
    {
        var source = EvaluationSource.Parse(text);
        Assert.Equal(text, source.ToString());
        Assert.Equal(source, EvaluationSource.Parse(source.ToString()));
    }

    [Fact]
    public void Sources_take_apart_and_refuse_what_is_none()
    {
        var source = EvaluationSource.Parse("split a / b / test (flips on)");
        Assert.Equal((EvaluationSourceKind.Split, "a / b", (SplitPart?)SplitPart.Test, (bool?)true), (source.Kind, source.Name, source.Part, source.Flips));
        Assert.NotEqual(EvaluationSource.Split("a", SplitPart.Test), EvaluationSource.Split("a", SplitPart.Test).WithFlips(false));
        Assert.Equal("split a / val", EvaluationSource.Split("a", SplitPart.Validation).ToString());
        Assert.False(EvaluationSource.TryParse("split cells / holdout", out _));
        Assert.False(EvaluationSource.TryParse("url http://x", out _));
        Assert.False(EvaluationSource.TryParse("folder", out _));
        Assert.Throws<ArgumentException>(() => EvaluationSource.Split("cells", (SplitPart)7));
        Assert.Throws<ArgumentException>(() => EvaluationSource.Of(EvaluationSourceKind.Folder, "/x", SplitPart.Validation, null));
    }

    [Fact]
    public void A_split_report_keeps_its_strategy_as_the_word()
    {
        var report = new SplitReport(SplitStrategy.Folders, null, 1, new Dictionary<string, IReadOnlyDictionary<string, int>>(), 0, new Dictionary<string, int>(), 0, 0, false, 0);
        string json = System.Text.Json.JsonSerializer.Serialize(report, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web));
        Assert.Contains("\"strategy\":\"folders\"", json);
        var read = System.Text.Json.JsonSerializer.Deserialize<SplitReport>(json.Replace("\"folders\"", "\"random\""), new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
        Assert.Equal(SplitStrategy.Random, read.Strategy);
    }
}
