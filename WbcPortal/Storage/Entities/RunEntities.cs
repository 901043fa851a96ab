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
    public string? Device { get; set; }
    public int Seed { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>Updated at least every epoch while running; a Running run whose heartbeat is stale was interrupted.</summary>
    public DateTimeOffset? HeartbeatAt { get; set; }
    public double Seconds { get; set; }
    public string? Error { get; set; }
    /// <summary>Relative to the data folder.</summary>
    public required string CheckpointDirectory { get; set; }
    /// <summary>The exported ONNX model, relative to the data folder, once the run succeeded.</summary>
    public string? ModelPath { get; set; }
    /// <summary>Versions and machine facts recorded so the run can be repeated.</summary>
    public string? EnvironmentJson { get; set; }
    public List<RunEpoch> Epochs { get; set; } = [];
    public List<RunEvaluation> Evaluations { get; set; } = [];
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

/// <summary>Metrics of one stage (untrained, round1, round2) on one part (val, test).</summary>
public sealed class RunEvaluation
{
    public int Id { get; set; }
    public int RunId { get; set; }
    public required string Stage { get; set; }
    public required string Part { get; set; }
    public double Accuracy { get; set; }
    public double MacroF1 { get; set; }
    /// <summary>Per-class metrics and the confusion matrix as JSON.</summary>
    public required string MetricsJson { get; set; }
}
