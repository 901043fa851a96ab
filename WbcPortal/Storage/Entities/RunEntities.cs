using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;

namespace WbcPortal.Storage.Entities;

public enum RunStatus
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

/// <summary>A training run: our own record is the source of truth for its state, whatever the job system says.</summary>
public sealed class Run
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public int SplitId { get; set; }
    public Split? Split { get; set; }
    public required string ConfigJson { get; set; }
    public RunStatus Status { get; set; }
    /// <summary>Where the run trained (stored as "cpu" or "cuda"); null until it starts.</summary>
    public WbcPortal.Engine.Compute.ComputeDevice? Device { get; set; }
    public int Seed { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>Updated at least every epoch while running; a Running run whose heartbeat is stale was interrupted.</summary>
    public DateTimeOffset? HeartbeatAt { get; set; }
    /// <summary>
    /// The process executing the run ("host:pid:start", <see cref="ProcessIdentity"/>), written by the claim. A Running
    /// run whose lease owner is gone was interrupted: no need to wait for its heartbeat to go stale.
    /// </summary>
    public string? LeaseOwner { get; set; }
    /// <summary>
    /// How many times another node (or this one after a restart) took the run over from a process that died while training
    /// it and resumed it from its checkpoint (<c>Jobs:TakeOver</c>); bounded by <see cref="Services.Jobs.JobsOptions.MaxAttempts"/>.
    /// </summary>
    public int TakeOvers { get; set; }
    /// <summary>Set by Stop from any process sharing the data folder; the executing process polls it and stops.</summary>
    public DateTimeOffset? StopRequestedAt { get; set; }
    public double Seconds { get; set; }
    public string? Error { get; set; }
    /// <summary>Relative to the data folder.</summary>
    public required string CheckpointDirectory { get; set; }
    /// <summary>The exported ONNX model, relative to the data folder, once the run succeeded.</summary>
    public string? ModelPath { get; set; }
    /// <summary>Versions and machine facts recorded so the run can be repeated.</summary>
    public string? EnvironmentJson { get; set; }
    /// <summary>Calibration temperature fitted on the validation part; every later probability is softmax(logits / T).</summary>
    public double? Temperature { get; set; }
    /// <summary>The cross-validation this run is a fold of (its split is that fold's), or null for a plain run.</summary>
    public int? CrossValidationId { get; set; }
    public CrossValidation? CrossValidation { get; set; }
    /// <summary>Which fold (1-based) of <see cref="CrossValidation"/> this run tests.</summary>
    public int? Fold { get; set; }
    /// <summary>What people wrote about the run (the run page's and the runs list's Notes); null when none.</summary>
    public string? Notes { get; set; }
    public List<RunEpoch> Epochs { get; set; } = [];
    public List<RunEvaluation> Evaluations { get; set; } = [];
}

/// <summary>
/// A group k-fold cross-validation: K ordinary runs (one per fold, each on its own immutable fold split) of one
/// configuration over the train and validation parts of <see cref="SourceSplit"/>, whose test part stays untouched.
/// It has no status of its own: it is derived from its fold runs (<c>CrossValidationLifecycle.StatusOf</c>).
/// </summary>
public sealed class CrossValidation
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public int SourceSplitId { get; set; }
    public Split? SourceSplit { get; set; }
    /// <summary>K: how many folds (and runs).</summary>
    public int Folds { get; set; }
    /// <summary>The seed that drew the folds (the runs train with the configuration's own seed).</summary>
    public int Seed { get; set; }
    public required string ConfigJson { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>
    /// The folds whose run was deleted (<c>DeletedFold</c> list as JSON: fold, run name, when, by whom), or null. A fold with no
    /// run is deleted whether or not it is listed here (a deletion made before this was recorded); the list adds who and when.
    /// </summary>
    public string? DeletedFoldsJson { get; set; }
    public List<Run> Runs { get; set; } = [];
}

public sealed class RunEpoch
{
    public int Id { get; set; }
    public int RunId { get; set; }
    public int Round { get; set; }
    public int Epoch { get; set; }
    public double TrainLoss { get; set; }
    public double TrainAccuracy { get; set; }
    public double ValLoss { get; set; }
    public double ValAccuracy { get; set; }
    public double Seconds { get; set; }
    public double ImagesPerSecond { get; set; }
    public double LearningRate { get; set; }
}

/// <summary>
/// Metrics of one stage on one part. Stages untrained, round1 and round2 are the trainer's own figures;
/// stage <see cref="TrainingStage.Model"/> is the exported ONNX model evaluated by the evaluator the CLI's
/// <c>evaluate</c> uses, on the run's own validation/test parts or elsewhere (<see cref="Source"/>), with its
/// full report and per-image predictions.
/// </summary>
public sealed class RunEvaluation
{
    public int Id { get; set; }
    public int RunId { get; set; }
    /// <summary>Stored as its name ("untrained", "round1", "round2", "model").</summary>
    public required TrainingStage Stage { get; set; }
    /// <summary>The split part evaluated, stored as its name ("train", "val", "test"); null for a folder or zip evaluation, whose
    /// <see cref="Source"/> says what it ran on (printed "folder", <see cref="RunEvaluationQueries.PartName"/>).</summary>
    public SplitPart? Part { get; set; }
    public double Accuracy { get; set; }
    public double MacroF1 { get; set; }
    /// <summary>Per-class metrics and the confusion matrix as JSON.</summary>
    public required string MetricsJson { get; set; }
    /// <summary>What was evaluated (model stage; null for the trainer's stages): <see cref="Source"/>, stored as typed columns.</summary>
    public EvaluationSourceKind? SourceKind { get; set; }
    /// <summary>The split's name, the folder's full path or the zip's name.</summary>
    public string? SourceName { get; set; }
    /// <summary>The split's part, for a split source.</summary>
    public SplitPart? SourcePart { get; set; }
    /// <summary>Whether the evaluation forced flip averaging on or off; null when it used the model's own.</summary>
    public bool? SourceFlips { get; set; }

    /// <summary>What was evaluated, for the model stage (not mapped: <see cref="SourceKind"/> and the columns after it hold it; queries use
    /// <see cref="RunEvaluationQueries.WithSource"/>).</summary>
    public EvaluationSource? Source
    {
        get => SourceKind is { } kind ? EvaluationSource.Of(kind, SourceName!, SourcePart, SourceFlips) : null;
        set
        {
            SourceKind = value?.Kind;
            SourceName = value?.Name;
            SourcePart = value?.Part;
            SourceFlips = value?.Flips;
        }
    }
    /// <summary>ECE after temperature scaling, and before it.</summary>
    public double? Ece { get; set; }
    public double? EceUncalibrated { get; set; }
    /// <summary>The full <c>EvaluationReport</c> as JSON (model stage).</summary>
    public string? ReportJson { get; set; }
    public DateTimeOffset? CreatedAt { get; set; }
    public List<RunPrediction> Predictions { get; set; } = [];

    /// <summary>How people read what it ran on (not mapped): the source's printed form, or the part for a trainer's stage.</summary>
    public string SourceTitle => Source?.ToString() ?? RunEvaluationQueries.PartName(Part);
}

/// <summary>One image's prediction in a model-stage evaluation: the review gallery and the calibration are built from these.</summary>
public sealed class RunPrediction
{
    public long Id { get; set; }
    public int EvaluationId { get; set; }
    /// <summary>The dataset image, when the evaluation ran on a split.</summary>
    public int? DatasetImageId { get; set; }
    /// <summary>The stored image's SHA-256 (for thumbnails), when known.</summary>
    public string? Sha256 { get; set; }
    /// <summary>File path relative to the evaluated folder, when the evaluation ran on a folder.</summary>
    public string? File { get; set; }
    /// <summary>
    /// The original (source group) the image is a copy of, as the evaluation knew it: the dataset's group for a split
    /// image, the group the grouper found among the folder's images for a folder evaluation; null when unknown.
    /// </summary>
    public int? Original { get; set; }
    public int Label { get; set; }
    public int Predicted { get; set; }
    /// <summary>Calibrated probability of the predicted class.</summary>
    public double Confidence { get; set; }
    /// <summary>Raw logits, JSON array in label order.</summary>
    public required string LogitsJson { get; set; }
}

/// <summary>Queries on the typed evaluation columns.</summary>
public static class RunEvaluationQueries
{
    /// <summary>How people read what an evaluation ran on: its source's printed form, or the part for a trainer's stage (usable in a query's final projection).</summary>
    public static string Title(EvaluationSourceKind? kind, string? name, SplitPart? sourcePart, bool? flips, SplitPart? part) =>
        kind is { } k ? EvaluationSource.Of(k, name!, sourcePart, flips).ToString() : PartName(part);

    /// <summary>What the CLI, the API and the pages print as an evaluation's part: its name ("train", "val", "test"), or "folder" for a
    /// folder or zip evaluation (no part).</summary>
    public static string PartName(SplitPart? part) => part is { } p ? p.Name() : FolderPartName;

    /// <summary>The part printed for a folder or zip evaluation (stored as no part; older databases stored this word).</summary>
    public const string FolderPartName = "folder";

    /// <summary>The evaluations of exactly <paramref name="source"/> (kind, name, part and flips), translated to the typed columns.</summary>
    public static IQueryable<RunEvaluation> WithSource(this IQueryable<RunEvaluation> evaluations, EvaluationSource source)
    {
        EvaluationSourceKind? kind = source.Kind;
        string? name = source.Name;
        SplitPart? part = source.Part;
        bool? flips = source.Flips;
        return evaluations.Where(e => e.SourceKind == kind && e.SourceName == name && e.SourcePart == part && e.SourceFlips == flips);
    }
}
