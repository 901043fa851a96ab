using System.Text.Json;
using System.Text.Json.Serialization;

namespace WbcPortal.Engine.Evaluation.Reports;

/// <summary>One finished training epoch as the report shows it.</summary>
public sealed record RunReportEpoch(int Round, int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy,
    double Seconds, double ImagesPerSecond, double LearningRate);

/// <summary>One row of the round table: the trainer's own figures for a stage (untrained, round1, round2).</summary>
public sealed record RunReportRound(string Stage, string Name, double? ValAccuracy, double? TestAccuracy, double? TestMacroF1);

/// <summary>The exported model evaluated on one source ("split NAME / test", "folder PATH"), with its full report.</summary>
public sealed record RunReportEvaluation(string Source, string Part, DateTimeOffset? CreatedAt, EvaluationReport Report);

/// <summary>
/// One evaluated image as the exports list it: the image (a dataset path, or a file of the evaluated folder), the original it
/// is a copy of (null when unknown), the given label, what the model answers (a class, or "Unidentified" when its calibrated
/// probability is under the threshold; <paramref name="Guess"/> is the class it would have called) and the calibrated
/// probability of every class in the report's label order. <paramref name="Correct"/>: the guess is the label, as the
/// report's accuracy counts it (so the correct rows over all rows is that accuracy, Unidentified or not).
/// </summary>
public sealed record RunReportPrediction(string Image, int? Original, string Label, string Called, string Guess, bool Correct, bool Unidentified,
    IReadOnlyList<double> Probabilities);

/// <summary>The per-image predictions of one evaluation (<paramref name="Source"/>) in the exports.</summary>
public sealed record RunReportPredictions(string Source, string Part, IReadOnlyList<string> Labels, double RejectThreshold, IReadOnlyList<RunReportPrediction> Images);

/// <summary>A split's honesty as exports write it: <paramref name="Status"/> is leakFree, suspectPairs, leaky, leakyByDesign or unchecked.</summary>
public sealed record SplitHonestyExport(string Status, string Label, string Detail, bool LeakFree)
{
    public static SplitHonestyExport From(WbcPortal.Engine.Datasets.Splitting.SplitHonesty honesty) =>
        new(System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(honesty.Status.ToString()), honesty.Label, honesty.Detail, honesty.Trustworthy);
}

/// <summary>
/// Everything a reviewer needs to judge a run away from the portal: what was trained on what, how, how it learned,
/// and every evaluation of its exported model. The CSV and HTML exports are pure functions of it.
/// </summary>
public sealed record RunReportDocument
{
    public required string RunName { get; init; }
    public required string Split { get; init; }
    /// <summary>Whether the split's held-out parts are free of copies of its training cells; every figure below is read through it.</summary>
    public SplitHonestyExport? SplitHonesty { get; init; }
    /// <summary>Originals (source groups) in each part of the split (train, val, test); null when it has no groups per part.</summary>
    public IReadOnlyDictionary<string, int>? SplitOriginals { get; init; }
    public required string Status { get; init; }
    public string? Device { get; init; }
    public double Seconds { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>The training configuration as JSON text (the JSON export carries it as an object, <see cref="Config"/>).</summary>
    [JsonIgnore]
    public string ConfigJson { get; init; } = "{}";

    public JsonElement Config
    {
        get
        {
            using var json = JsonDocument.Parse(ConfigJson);
            return json.RootElement.Clone();
        }
    }

    /// <summary>The calibration temperature fitted on the validation part (probabilities are softmax(logits / T)).</summary>
    public double? Temperature { get; init; }
    public required IReadOnlyList<RunReportEpoch> Epochs { get; init; }
    public required IReadOnlyList<RunReportRound> Rounds { get; init; }
    public required IReadOnlyList<RunReportEvaluation> Evaluations { get; init; }
    /// <summary>Every image of the run's test part (else of its first evaluation) with its answer and probabilities; null when the model has no evaluation.</summary>
    public RunReportPredictions? Predictions { get; init; }
    /// <summary>When the document was made, and by which portal version.</summary>
    public DateTimeOffset GeneratedAt { get; init; }
    public string? Generator { get; init; }

    /// <summary>The mean training speed over the finished epochs, or null before the first.</summary>
    public double? MeanImagesPerSecond => Epochs.Count == 0 ? null : Epochs.Average(e => e.ImagesPerSecond);
}
