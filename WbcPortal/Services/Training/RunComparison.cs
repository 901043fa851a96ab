using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Services.Splits;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>Which way a figure improves.</summary>
public enum Better
{
    Higher,
    Lower,
    /// <summary>Neither: a difference is shown but not judged (e.g. the calibration temperature).</summary>
    Neither,
}

/// <summary>How a figure reads: a proportion (shown as a percentage, differences in points), a plain number, seconds, or a rate.</summary>
public enum FigureKind
{
    Percent,
    Score,
    Seconds,
    ImagesPerSecond,
    Temperature,
    Count,
}

/// <summary>A figure of a compared run against the baseline's.</summary>
public enum Verdict
{
    /// <summary>The baseline itself, or a figure missing on either side.</summary>
    None,
    Same,
    Better,
    Worse,
    /// <summary>Different, for a figure with no better direction.</summary>
    Changed,
    /// <summary>A held-out figure where either run's split is not leak-free: the difference is shown, never judged a gain or a loss.</summary>
    Unjudged,
}

/// <summary>One run's value of a figure; <paramref name="Delta"/> is this value minus the baseline's (null for the baseline or when either is missing).</summary>
public sealed record FigureCell(double? Value, Interval? Ci, double? Delta, Verdict Verdict);

/// <summary>One row of the comparison: a figure, with a cell per run in the order asked for (the first is the baseline).</summary>
public sealed record FigureRow(string Section, string Key, string Label, FigureKind Kind, Better Better, IReadOnlyList<FigureCell> Cells);

/// <summary>The trainer's own figures of one stage (untrained, round1, round2).</summary>
public sealed record StageFigures(string Stage, double? ValAccuracy, double? TestAccuracy, double? TestMacroF1);

public sealed record ClassFigures(string Label, double Recall, Interval RecallCi, double F1, int Support);

/// <summary>The exported model's evaluation on the run's own test part.</summary>
/// <param name="Originals">How many source originals the test images are copies of (null: no groups).</param>
/// <param name="AccuracyCiByOriginal">The accuracy's cluster-bootstrap interval over those originals.</param>
public sealed record ModelFigures(string? Source, int Total, double Accuracy, Interval AccuracyCi, double MacroF1, double WeightedF1,
    IReadOnlyList<ClassFigures> PerClass, double EceUncalibrated, double EceCalibrated, double Temperature,
    int? Originals = null, Interval? AccuracyCiByOriginal = null);

/// <summary>One epoch on a single axis across both rounds: <paramref name="Index"/> counts from 1 over round 1 then round 2.</summary>
public sealed record EpochPoint(int Index, int Round, int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy);

/// <summary>Everything the comparison reads of one run.</summary>
public sealed record ComparedRun(
    int Id,
    string Name,
    string Split,
    RunStatus Status,
    string? Device,
    DateTimeOffset CreatedAt,
    double Seconds,
    double? MeanImagesPerSecond,
    double? Temperature,
    IReadOnlyList<StageFigures> Stages,
    ModelFigures? Model,
    IReadOnlyList<EpochPoint> Epochs,
    IReadOnlyDictionary<string, string?> Config)
{
    /// <summary>The honesty of the run's split: a held-out figure is judged better or worse only when both sides are leak-free.</summary>
    public SplitHonesty Honesty { get; init; } = SplitReports.HonestyOf(null);

    /// <summary>"train 221 · val 28 · test 28 originals", or null when the split has no groups per part.</summary>
    public string? OriginalsText { get; init; }

    /// <summary>"fold 2/5 of NAME" for a cross-validation's fold run, else null.</summary>
    public string? FoldOf { get; init; }

    /// <summary>The index of the last round-1 epoch on the shared epoch axis (0 when round 1 has none).</summary>
    public int Round1Epochs => Epochs.Count(e => e.Round == 1);
}

/// <summary>One configuration key: its value in each run (null where the run's configuration lacks it) and whether they differ.</summary>
public sealed record ConfigRow(string Key, IReadOnlyList<string?> Values, bool Differs);

/// <summary>
/// Two or more runs side by side. <see cref="Runs"/> keeps the order asked for; the first is the baseline every
/// difference is measured against. <see cref="MissingIds"/> lists asked-for ids that are not runs.
/// </summary>
public sealed record RunComparisonResult(
    IReadOnlyList<ComparedRun> Runs,
    IReadOnlyList<int> MissingIds,
    IReadOnlyList<FigureRow> Figures,
    IReadOnlyList<ConfigRow> Config)
{
    public ComparedRun? Baseline => Runs.Count > 0 ? Runs[0] : null;

    /// <summary>True when the runs were tested on different splits, so their test figures are on different images.</summary>
    public bool MixedSplits => Runs.Select(r => r.Split).Distinct(StringComparer.Ordinal).Count() > 1;

    public IReadOnlyList<ConfigRow> DifferingConfig => Config.Where(c => c.Differs).ToList();

    /// <summary>The runs whose split is not leak-free: their held-out differences are shown but not coloured.</summary>
    public IReadOnlyList<ComparedRun> Untrusted => Runs.Where(r => !r.Honesty.Trustworthy).ToList();
}

/// <summary>
/// Compares runs: facts, the trainer's round figures, the exported model's test evaluation, epoch curves,
/// differences to the first run, and a flattened configuration diff.
/// </summary>
public sealed class RunComparison(IDbContextFactory<WbcDbContext> contexts)
{
    public const string RunSection = "Run";
    public const string StageSection = "Rounds (trainer figures)";
    public const string ModelSection = "Exported model on test";
    public const string ClassSection = "Per class (exported model on test)";

    public static readonly IReadOnlyList<string> Stages = ["untrained", "round1", "round2"];

    /// <summary>Differences smaller than this are "the same" (stored figures are doubles computed from counts).</summary>
    private const double Tolerance = 1e-9;

    public static string StageName(string stage) => stage switch
    {
        "untrained" => "Untrained head",
        "round1" => "Round 1 (frozen backbone)",
        "round2" => "Round 2 (fine-tuned)",
        _ => stage,
    };

    /// <summary>Compares the runs with these ids, in this order (repeats dropped); ids that are no run are reported, not thrown.</summary>
    public async Task<RunComparisonResult> CompareAsync(IReadOnlyList<int> ids, CancellationToken cancellationToken = default)
    {
        var wanted = ids.Distinct().ToList();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var runs = await db.Runs.AsNoTracking().Include(r => r.Split).Include(r => r.CrossValidation).Where(r => wanted.Contains(r.Id)).ToListAsync(cancellationToken);
        var epochs = await db.RunEpochs.AsNoTracking().Where(e => wanted.Contains(e.RunId)).ToListAsync(cancellationToken);
        var evaluations = await db.RunEvaluations.AsNoTracking().Where(e => wanted.Contains(e.RunId)).OrderBy(e => e.Id).ToListAsync(cancellationToken);

        var byId = runs.ToDictionary(r => r.Id);
        var compared = wanted.Where(byId.ContainsKey)
            .Select(id => Describe(byId[id], epochs.Where(e => e.RunId == id).ToList(), evaluations.Where(e => e.RunId == id).ToList()))
            .ToList();
        var missing = wanted.Where(id => !byId.ContainsKey(id)).ToList();
        return new RunComparisonResult(compared, missing, Figures(compared), DiffConfig(compared.Select(r => r.Config).ToList()));
    }

    private static ComparedRun Describe(Run run, IReadOnlyList<RunEpoch> epochs, IReadOnlyList<RunEvaluation> evaluations)
    {
        var ordered = epochs.OrderBy(e => e.Round).ThenBy(e => e.Epoch).ToList();
        var points = ordered.Select((e, i) => new EpochPoint(i + 1, e.Round, e.Epoch, e.TrainLoss, e.TrainAccuracy, e.ValLoss, e.ValAccuracy)).ToList();
        // Round 1 on cached features runs at thousands of img/s and says nothing about the network's speed: the fine-tune round counts when there is one.
        var trained = ordered.Any(e => e.Round == 2) ? ordered.Where(e => e.Round == 2) : ordered;
        var rates = trained.Where(e => e.ImagesPerSecond > 0).Select(e => e.ImagesPerSecond).ToList();
        string split = run.Split?.Name ?? "";

        // The latest figure of a stage on a part wins: a resumed run may have measured a stage again.
        RunEvaluation? Last(string stage, string part) => evaluations.LastOrDefault(e => e.Stage == stage && e.Part == part);
        var stages = Stages
            .Select(s => (Stage: s, Val: Last(s, "val"), Test: Last(s, "test")))
            .Where(s => s.Val is not null || s.Test is not null)
            .Select(s => new StageFigures(s.Stage, s.Val?.Accuracy, s.Test?.Accuracy, s.Test?.MacroF1))
            .ToList();

        return new ComparedRun(run.Id, run.Name, split, run.Status, run.Device, run.CreatedAt, run.Seconds,
            rates.Count == 0 ? null : rates.Average(), run.Temperature, stages, Model(evaluations, split), points, Flatten(run.ConfigJson))
        {
            Honesty = SplitReports.HonestyOf(run.Split),
            OriginalsText = SplitReports.OriginalsText(SplitReports.OriginalsPerPart(run.Split)),
            FoldOf = run.CrossValidation is { } cv ? $"fold {run.Fold}/{cv.Folds} of {cv.Name}" : null,
        };
    }

    /// <summary>The exported model on the run's own test part; another test evaluation (e.g. an older source name) when that is missing.</summary>
    private static ModelFigures? Model(IReadOnlyList<RunEvaluation> evaluations, string split)
    {
        var tests = evaluations.Where(e => e.Stage == RunEvaluation.ModelStage && e.Part == "test" && e.ReportJson is not null).ToList();
        var evaluation = tests.LastOrDefault(e => e.Source == $"split {split} / test") ?? tests.LastOrDefault();
        if (evaluation is null) return null;
        var report = EvaluationService.ReadReport(evaluation);
        return new ModelFigures(evaluation.Source, report.Total, report.Accuracy, report.AccuracyCi, report.MacroF1, report.WeightedF1,
            report.PerClass.Select(c => new ClassFigures(c.Label, c.Recall, c.RecallCi, c.F1, c.Support)).ToList(),
            report.Uncalibrated.Ece, report.Calibrated.Ece, report.Temperature, report.ByOriginal?.Originals, report.ByOriginal?.AccuracyCi);
    }

    private static List<FigureRow> Figures(IReadOnlyList<ComparedRun> runs)
    {
        var rows = new List<FigureRow>();
        // Held-out figures (every section but the run's own facts) are judged only where both splits are leak-free.
        var trusted = runs.Select(r => r.Honesty.Trustworthy).ToList();
        void Add(string section, string key, string label, FigureKind kind, Better better, Func<ComparedRun, (double? Value, Interval? Ci)> read) =>
            rows.Add(Row(section, key, label, kind, better, runs.Select(read).ToList(), section == RunSection ? null : trusted));
        void AddPlain(string section, string key, string label, FigureKind kind, Better better, Func<ComparedRun, double?> read) =>
            Add(section, key, label, kind, better, r => (read(r), null));

        AddPlain(RunSection, "seconds", "Training time", FigureKind.Seconds, Better.Lower, r => r.Seconds);
        AddPlain(RunSection, "imagesPerSecond", "Mean fine-tune speed", FigureKind.ImagesPerSecond, Better.Higher, r => r.MeanImagesPerSecond);
        AddPlain(RunSection, "temperature", "Calibration temperature", FigureKind.Temperature, Better.Neither, r => r.Temperature);

        foreach (var stage in Stages)
        {
            if (!runs.Any(r => r.Stages.Any(s => s.Stage == stage))) continue;
            StageFigures? Of(ComparedRun r) => r.Stages.FirstOrDefault(s => s.Stage == stage);
            string name = StageName(stage);
            AddPlain(StageSection, $"{stage}.val.accuracy", $"{name}: validation accuracy", FigureKind.Percent, Better.Higher, r => Of(r)?.ValAccuracy);
            AddPlain(StageSection, $"{stage}.test.accuracy", $"{name}: test accuracy", FigureKind.Percent, Better.Higher, r => Of(r)?.TestAccuracy);
            AddPlain(StageSection, $"{stage}.test.macroF1", $"{name}: test macro-F1", FigureKind.Score, Better.Higher, r => Of(r)?.TestMacroF1);
        }

        if (runs.Any(r => r.Model is not null))
        {
            Add(ModelSection, "model.accuracy", "Accuracy (95 % Wilson CI)", FigureKind.Percent, Better.Higher, r => (r.Model?.Accuracy, r.Model?.AccuracyCi));
            if (runs.Any(r => r.Model?.Originals is not null))
            {
                // The honest width of a grouped figure: the images are copies of a few dozen cells.
                Add(ModelSection, "model.accuracyByOriginal", "Accuracy (95 % CI by original)", FigureKind.Percent, Better.Higher,
                    r => (r.Model?.AccuracyCiByOriginal is null ? null : r.Model.Accuracy, r.Model?.AccuracyCiByOriginal));
                AddPlain(ModelSection, "model.originals", "Originals in the test part", FigureKind.Count, Better.Neither, r => r.Model?.Originals);
            }
            AddPlain(ModelSection, "model.macroF1", "Macro-F1", FigureKind.Score, Better.Higher, r => r.Model?.MacroF1);
            AddPlain(ModelSection, "model.weightedF1", "Weighted F1", FigureKind.Score, Better.Higher, r => r.Model?.WeightedF1);
            AddPlain(ModelSection, "model.eceRaw", "ECE, raw", FigureKind.Score, Better.Lower, r => r.Model?.EceUncalibrated);
            AddPlain(ModelSection, "model.eceCalibrated", "ECE, calibrated", FigureKind.Score, Better.Lower, r => r.Model?.EceCalibrated);

            // Every class any run knows, in the baseline's order first.
            var labels = runs.SelectMany(r => r.Model?.PerClass.Select(c => c.Label) ?? []).Distinct(StringComparer.Ordinal).ToList();
            foreach (var label in labels)
            {
                ClassFigures? Of(ComparedRun r) => r.Model?.PerClass.FirstOrDefault(c => c.Label == label);
                Add(ClassSection, $"class.{label}.recall", $"{label}: recall (95 % Wilson CI)", FigureKind.Percent, Better.Higher, r => (Of(r)?.Recall, Of(r)?.RecallCi));
                AddPlain(ClassSection, $"class.{label}.f1", $"{label}: F1", FigureKind.Score, Better.Higher, r => Of(r)?.F1);
            }
        }
        return rows;
    }

    /// <param name="trusted">Per run, whether its split is leak-free (null: the figure is not a held-out one, always judged).</param>
    private static FigureRow Row(string section, string key, string label, FigureKind kind, Better better, IReadOnlyList<(double? Value, Interval? Ci)> values,
        IReadOnlyList<bool>? trusted)
    {
        double? baseline = values.Count > 0 ? values[0].Value : null;
        var cells = values.Select((v, i) =>
        {
            if (i == 0 || v.Value is null || baseline is null) return new FigureCell(v.Value, v.Ci, null, Verdict.None);
            double delta = v.Value.Value - baseline.Value;
            var verdict = Judge(delta, better);
            if (trusted is not null && !(trusted[0] && trusted[i]) && verdict is Verdict.Better or Verdict.Worse) verdict = Verdict.Unjudged;
            return new FigureCell(v.Value, v.Ci, delta, verdict);
        }).ToList();
        return new FigureRow(section, key, label, kind, better, cells);
    }

    /// <summary>Better or worse than the baseline, given which way the figure improves.</summary>
    public static Verdict Judge(double delta, Better better)
    {
        if (Math.Abs(delta) <= Tolerance) return Verdict.Same;
        return better switch
        {
            Better.Higher => delta > 0 ? Verdict.Better : Verdict.Worse,
            Better.Lower => delta < 0 ? Verdict.Better : Verdict.Worse,
            _ => Verdict.Changed,
        };
    }

    /// <summary>
    /// A configuration as key paths to values: nested objects join with dots (<c>round2.learningRate</c>), arrays become their
    /// values joined with ", " (empty: ""), numbers are written invariantly. A configuration that is not a JSON object gives no keys.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> Flatten(string json)
    {
        var result = new OrderedDictionary<string, string?>(StringComparer.Ordinal);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return result;
        }
        if (root is JsonObject obj) Walk(obj, "", result);
        return result;
    }

    private static void Walk(JsonObject obj, string prefix, OrderedDictionary<string, string?> into)
    {
        foreach (var (name, node) in obj)
        {
            string key = prefix.Length == 0 ? name : $"{prefix}.{name}";
            if (node is JsonObject child) Walk(child, key, into);
            else into[key] = Text(node);
        }
    }

    private static string? Text(JsonNode? node) => node switch
    {
        null => null,
        JsonArray array => string.Join(", ", array.Select(Text)),
        JsonObject obj => obj.ToJsonString(),
        JsonValue value => value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number => value.GetValue<double>().ToString(CultureInfo.InvariantCulture),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => value.ToJsonString(),
        },
        _ => node.ToJsonString(),
    };

    /// <summary>Every key of any configuration, in first-seen order (the baseline's first), with each run's value and whether they differ.</summary>
    public static IReadOnlyList<ConfigRow> DiffConfig(IReadOnlyList<IReadOnlyDictionary<string, string?>> configs)
    {
        var keys = configs.SelectMany(c => c.Keys).Distinct(StringComparer.Ordinal).ToList();
        return keys.Select(key =>
        {
            var values = configs.Select(c => c.TryGetValue(key, out var v) ? v : null).ToList();
            return new ConfigRow(key, values, values.Distinct(StringComparer.Ordinal).Count() > 1);
        }).ToList();
    }
}
