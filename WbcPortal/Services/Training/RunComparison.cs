using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;
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
    /// <summary>The difference's 95 % interval (by original) holds 0: as large as which originals happened to be tested.</summary>
    WithinNoise,
    /// <summary>No noise estimate for this figure (one measurement each, or no per-image record): the difference is shown, never judged.</summary>
    NotEstimated,
}

/// <summary>The 95 % interval of a difference and how it was measured ("paired by original, 26 originals").</summary>
public sealed record NoiseEstimate(Interval Ci, string Basis)
{
    public bool OutsideNoise => Ci.Low > 0 || Ci.High < 0;
}

/// <summary>One run's value of a figure; <paramref name="Delta"/> is this value minus the baseline's (null for the baseline or when either is missing).</summary>
public sealed record FigureCell(double? Value, Interval? Ci, double? Delta, Verdict Verdict)
{
    /// <summary>The noise of <see cref="Delta"/>, where it could be measured.</summary>
    public NoiseEstimate? Noise { get; init; }
}

/// <summary>One row of the comparison: a figure, with a cell per run in the order asked for (the first is the baseline).</summary>
public sealed record FigureRow(string Section, string Key, string Label, FigureKind Kind, Better Better, IReadOnlyList<FigureCell> Cells);

/// <summary>The trainer's own figures of one stage (untrained, round1, round2).</summary>
public sealed record StageFigures(TrainingStage Stage, double? ValAccuracy, double? TestAccuracy, double? TestMacroF1);

public sealed record ClassFigures(string Label, double Recall, Interval RecallCi, double F1, int Support);

/// <summary>The exported model's evaluation on the run's own test part.</summary>
/// <param name="Originals">How many source originals the test images are copies of (null: no groups).</param>
/// <param name="AccuracyCiByOriginal">The accuracy's cluster-bootstrap interval over those originals.</param>
public sealed record ModelFigures(string? Source, int Total, double Accuracy, Interval AccuracyCi, double MacroF1, double WeightedF1,
    IReadOnlyList<ClassFigures> PerClass, double EceUncalibrated, double EceCalibrated, double Temperature,
    int? Originals = null, Interval? AccuracyCiByOriginal = null)
{
    /// <summary>The stored evaluation these figures come from (its per-image predictions pair two runs).</summary>
    public int? EvaluationId { get; init; }
    /// <summary>Per class (in <see cref="PerClass"/>'s order), the recall's cluster-bootstrap interval over originals.</summary>
    public IReadOnlyList<Interval>? RecallCiByOriginal { get; init; }
    /// <summary>The calibrated ECE's cluster-bootstrap interval over originals.</summary>
    public Interval? EceCiByOriginal { get; init; }
}

/// <summary>One epoch on a single axis across both rounds: <paramref name="Index"/> counts from 1 over round 1 then round 2.</summary>
public sealed record EpochPoint(int Index, int Round, int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy);

/// <summary>Everything the comparison reads of one run.</summary>
public sealed record ComparedRun(
    int Id,
    string Name,
    string Split,
    RunStatus Status,
    WbcPortal.Engine.Compute.ComputeDevice? Device,
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


    /// <summary>Differences smaller than this are "the same" (stored figures are doubles computed from counts).</summary>
    private const double Tolerance = 1e-9;

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
        var noise = await NoiseAsync(db, compared, cancellationToken);
        return new RunComparisonResult(compared, missing, Figures(compared, noise), DiffConfig(compared.Select(r => r.Config).ToList()));
    }

    /// <summary>
    /// Per run after the baseline, the noise of its exported model's differences: a bootstrap over originals of both runs'
    /// stored per-image predictions (paired when both tested the same images). Null for a run when either side has no stored
    /// predictions or the two models name their classes differently.
    /// </summary>
    private static async Task<IReadOnlyList<DifferenceReport?>> NoiseAsync(WbcDbContext db, IReadOnlyList<ComparedRun> runs, CancellationToken cancellationToken)
    {
        var result = new DifferenceReport?[runs.Count];
        var baseline = runs.Count > 0 ? runs[0].Model : null;
        if (baseline?.EvaluationId is null) return result;
        var evaluationIds = runs.Select(r => r.Model?.EvaluationId).OfType<int>().Distinct().ToList();
        var rows = await db.RunPredictions.AsNoTracking().Where(p => evaluationIds.Contains(p.EvaluationId))
            .Select(p => new { p.EvaluationId, p.DatasetImageId, p.File, p.Label, p.LogitsJson }).ToListAsync(cancellationToken);
        var imageIds = rows.Select(r => r.DatasetImageId).OfType<int>().Distinct().ToList();
        var groups = await db.DatasetImages.AsNoTracking().Where(i => imageIds.Contains(i.Id)).Select(i => new { i.Id, i.SourceGroup })
            .ToDictionaryAsync(i => i.Id, i => i.SourceGroup, cancellationToken);
        var byEvaluation = rows.GroupBy(r => r.EvaluationId).ToDictionary(g => g.Key, g => g.Select(r => new ComparedPrediction(
            r.DatasetImageId is int id ? id.ToString(CultureInfo.InvariantCulture) : r.File ?? "",
            r.Label,
            JsonSerializer.Deserialize<float[]>(r.LogitsJson) ?? [],
            r.DatasetImageId is int image && groups.TryGetValue(image, out var g) ? g : null)).ToList());
        var labels = baseline.PerClass.Select(c => c.Label).ToList();
        if (!byEvaluation.TryGetValue(baseline.EvaluationId.Value, out var a)) return result;
        for (int i = 1; i < runs.Count; i++)
        {
            var model = runs[i].Model;
            if (model?.EvaluationId is not int id || !byEvaluation.TryGetValue(id, out var b)) continue;
            if (!model.PerClass.Select(c => c.Label).SequenceEqual(labels, StringComparer.Ordinal)) continue;
            result[i] = DifferenceByOriginal.Compare(labels.Count, a, baseline.Temperature, b, model.Temperature);
        }
        return result;
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
        RunEvaluation? Last(TrainingStage stage, SplitPart part) => evaluations.LastOrDefault(e => e.Stage == stage && e.Part == part);
        var stages = TrainingStages.Trainer
            .Select(s => (Stage: s, Val: Last(s, SplitPart.Validation), Test: Last(s, SplitPart.Test)))
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
        var tests = evaluations.Where(e => e.Stage == TrainingStage.Model && e.Part == SplitPart.Test && e.ReportJson is not null).ToList();
        var evaluation = (split.Length == 0 ? null : tests.LastOrDefault(e => e.Source == EvaluationSource.Split(split, SplitPart.Test))) ?? tests.LastOrDefault();
        if (evaluation is null) return null;
        var report = EvaluationService.ReadReport(evaluation);
        return new ModelFigures(evaluation.SourceTitle, report.Total, report.Accuracy, report.AccuracyCi, report.MacroF1, report.WeightedF1,
            report.PerClass.Select(c => new ClassFigures(c.Label, c.Recall, c.RecallCi, c.F1, c.Support)).ToList(),
            report.Uncalibrated.Ece, report.Calibrated.Ece, report.Temperature, report.ByOriginal?.Originals, report.ByOriginal?.AccuracyCi)
        {
            EvaluationId = evaluation.Id,
            RecallCiByOriginal = report.ByOriginal?.RecallCi,
            EceCiByOriginal = report.ByOriginal?.EceCi,
        };
    }

    private static List<FigureRow> Figures(IReadOnlyList<ComparedRun> runs, IReadOnlyList<DifferenceReport?> noise)
    {
        var rows = new List<FigureRow>();
        // Held-out figures (every section but the run's own facts) are judged only where both splits are leak-free.
        var trusted = runs.Select(r => r.Honesty.Trustworthy).ToList();
        var baselineLabels = runs.FirstOrDefault()?.Model?.PerClass.Select(c => c.Label).ToList() ?? [];
        // A figure's noise: the bootstrap of both runs' per-image predictions; else, for a figure the reports give an interval
        // by original, the two intervals combined (unpaired); else none, and the difference is not judged.
        NoiseEstimate? Noise(int run, string? figure, Func<ModelFigures, Interval?>? interval)
        {
            if (figure is null) return null;
            if (noise[run] is { } report && report.Figures.TryGetValue(figure, out var d))
            {
                return new NoiseEstimate(d.Ci, report.Paired
                    ? $"paired by original ({report.OriginalsA:N0} originals, {DifferenceByOriginal.Resamples:N0} draws)"
                    : $"by original, unpaired ({report.OriginalsA:N0} and {report.OriginalsB:N0} originals)");
            }
            if (interval is null || runs[0].Model is not { } a || runs[run].Model is not { } b || interval(a) is not { } ia || interval(b) is not { } ib) return null;
            double delta = Value(figure, b) - Value(figure, a);
            double margin = Math.Sqrt(Math.Pow((ia.High - ia.Low) / 2, 2) + Math.Pow((ib.High - ib.Low) / 2, 2));
            return new NoiseEstimate(new Interval(delta - margin, delta + margin), "from the two intervals by original (unpaired)");
        }
        double Value(string figure, ModelFigures m) => figure switch
        {
            "accuracy" => m.Accuracy,
            "eceCalibrated" => m.EceCalibrated,
            _ when figure.StartsWith("recall.", StringComparison.Ordinal) => m.PerClass[int.Parse(figure[7..], CultureInfo.InvariantCulture)].Recall,
            _ => double.NaN,
        };
        void Add(string section, string key, string label, FigureKind kind, Better better, Func<ComparedRun, (double? Value, Interval? Ci)> read,
            string? figure = null, Func<ModelFigures, Interval?>? interval = null) =>
            rows.Add(Row(section, key, label, kind, better, runs.Select(read).ToList(), section == RunSection ? null : trusted,
                run => Noise(run, figure, interval)));
        void AddPlain(string section, string key, string label, FigureKind kind, Better better, Func<ComparedRun, double?> read, string? figure = null,
            Func<ModelFigures, Interval?>? interval = null) =>
            Add(section, key, label, kind, better, r => (read(r), null), figure, interval);

        AddPlain(RunSection, "seconds", "Training time", FigureKind.Seconds, Better.Lower, r => r.Seconds);
        AddPlain(RunSection, "imagesPerSecond", "Mean fine-tune speed", FigureKind.ImagesPerSecond, Better.Higher, r => r.MeanImagesPerSecond);
        AddPlain(RunSection, "temperature", "Calibration temperature", FigureKind.Temperature, Better.Neither, r => r.Temperature);

        foreach (var stage in TrainingStages.Trainer)
        {
            if (!runs.Any(r => r.Stages.Any(s => s.Stage == stage))) continue;
            StageFigures? Of(ComparedRun r) => r.Stages.FirstOrDefault(s => s.Stage == stage);
            string name = stage.Title();
            AddPlain(StageSection, $"{stage.Name()}.val.accuracy", $"{name}: validation accuracy", FigureKind.Percent, Better.Higher, r => Of(r)?.ValAccuracy);
            AddPlain(StageSection, $"{stage.Name()}.test.accuracy", $"{name}: test accuracy", FigureKind.Percent, Better.Higher, r => Of(r)?.TestAccuracy);
            AddPlain(StageSection, $"{stage.Name()}.test.macroF1", $"{name}: test macro-F1", FigureKind.Score, Better.Higher, r => Of(r)?.TestMacroF1);
        }

        if (runs.Any(r => r.Model is not null))
        {
            Add(ModelSection, "model.accuracy", "Accuracy (95 % Wilson CI)", FigureKind.Percent, Better.Higher, r => (r.Model?.Accuracy, r.Model?.AccuracyCi),
                "accuracy", m => m.AccuracyCiByOriginal);
            if (runs.Any(r => r.Model?.Originals is not null))
            {
                // The honest width of a grouped figure: the images are copies of a few dozen cells.
                Add(ModelSection, "model.accuracyByOriginal", "Accuracy (95 % CI by original)", FigureKind.Percent, Better.Higher,
                    r => (r.Model?.AccuracyCiByOriginal is null ? null : r.Model.Accuracy, r.Model?.AccuracyCiByOriginal), "accuracy", m => m.AccuracyCiByOriginal);
                AddPlain(ModelSection, "model.originals", "Originals in the test part", FigureKind.Count, Better.Neither, r => r.Model?.Originals);
            }
            AddPlain(ModelSection, "model.macroF1", "Macro-F1", FigureKind.Score, Better.Higher, r => r.Model?.MacroF1, "macroF1");
            AddPlain(ModelSection, "model.weightedF1", "Weighted F1", FigureKind.Score, Better.Higher, r => r.Model?.WeightedF1, "weightedF1");
            AddPlain(ModelSection, "model.eceRaw", "ECE, raw", FigureKind.Score, Better.Lower, r => r.Model?.EceUncalibrated, "eceRaw");
            AddPlain(ModelSection, "model.eceCalibrated", "ECE, calibrated", FigureKind.Score, Better.Lower, r => r.Model?.EceCalibrated, "eceCalibrated", m => m.EceCiByOriginal);

            // Every class any run knows, in the baseline's order first.
            var labels = runs.SelectMany(r => r.Model?.PerClass.Select(c => c.Label) ?? []).Distinct(StringComparer.Ordinal).ToList();
            foreach (var label in labels)
            {
                ClassFigures? Of(ComparedRun r) => r.Model?.PerClass.FirstOrDefault(c => c.Label == label);
                int index = baselineLabels.IndexOf(label);
                string? recall = index < 0 ? null : $"recall.{index}", f1 = index < 0 ? null : $"f1.{index}";
                Add(ClassSection, $"class.{label}.recall", $"{label}: recall (95 % Wilson CI)", FigureKind.Percent, Better.Higher, r => (Of(r)?.Recall, Of(r)?.RecallCi),
                    recall, m => index < 0 || m.RecallCiByOriginal is not { } cis || index >= cis.Count || !m.PerClass.Select(c => c.Label).SequenceEqual(baselineLabels) ? null : cis[index]);
                AddPlain(ClassSection, $"class.{label}.f1", $"{label}: F1", FigureKind.Score, Better.Higher, r => Of(r)?.F1, f1);
            }
        }
        return rows;
    }

    /// <param name="trusted">Per run, whether its split is leak-free (null: the figure is not a held-out one).</param>
    /// <param name="noise">Per run, the noise of its difference to the baseline, or null when it could not be measured.</param>
    private static FigureRow Row(string section, string key, string label, FigureKind kind, Better better, IReadOnlyList<(double? Value, Interval? Ci)> values,
        IReadOnlyList<bool>? trusted, Func<int, NoiseEstimate?> noise)
    {
        double? baseline = values.Count > 0 ? values[0].Value : null;
        var cells = values.Select((v, i) =>
        {
            if (i == 0 || v.Value is null || baseline is null) return new FigureCell(v.Value, v.Ci, null, Verdict.None);
            double delta = v.Value.Value - baseline.Value;
            var estimate = noise(i);
            return new FigureCell(v.Value, v.Ci, delta, Judge(delta, better, estimate, trusted is null || (trusted[0] && trusted[i]))) { Noise = estimate };
        }).ToList();
        return new FigureRow(section, key, label, kind, better, cells);
    }

    /// <summary>
    /// The verdict of a difference: the same, or changed where no direction is better; else a gain or a loss only when its noise
    /// was measured and its 95 % interval leaves out 0 (within noise otherwise), never on a leaky split, and not judged without
    /// a noise estimate.
    /// </summary>
    public static Verdict Judge(double delta, Better better, NoiseEstimate? noise, bool trusted)
    {
        var direction = Judge(delta, better);
        if (direction is Verdict.Same or Verdict.Changed) return direction;
        if (!trusted) return Verdict.Unjudged;
        if (noise is null) return Verdict.NotEstimated;
        return noise.OutsideNoise ? direction : Verdict.WithinNoise;
    }

    /// <summary>Better or worse than the baseline, given which way the figure improves (its direction only, before any noise).</summary>
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
