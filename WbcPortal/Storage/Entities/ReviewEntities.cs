using WbcPortal.Engine.Datasets.Curation;

namespace WbcPortal.Storage.Entities;

/// <summary>
/// A reviewer's decision on the label of images of a dataset (<see cref="LabelDecision"/>): never deleted, undone by
/// <see cref="UndoneAt"/>. The images are listed by id, so the decision keeps its meaning when groups are found again.
/// </summary>
public sealed class ReviewDecision
{
    public long Id { get; set; }
    public int DatasetId { get; set; }
    public DecisionKind Kind { get; set; }
    public DecisionScope Scope { get; set; }
    /// <summary>The source group the original had when the decision was taken (for reading; <see cref="ImageIdsJson"/> is authoritative).</summary>
    public int? SourceGroup { get; set; }
    /// <summary>The dataset image ids the decision covers, JSON array.</summary>
    public required string ImageIdsJson { get; set; }
    public int Images { get; set; }
    public required string FromClass { get; set; }
    public string? ToClass { get; set; }
    public required string Reviewer { get; set; }
    public string? Note { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? UndoneAt { get; set; }
    public string? UndoneBy { get; set; }
    /// <summary>The run and evaluation the reviewer was looking at, when the decision came from one.</summary>
    public int? RunId { get; set; }
    public int? EvaluationId { get; set; }
}

/// <summary>A stored label-issue search of a dataset (<c>LabelIssueService</c>): its figures, and the full result as JSON.</summary>
public sealed class LabelIssueRun
{
    public int Id { get; set; }
    public int DatasetId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>"frozen-head": a linear head per fold on the pretrained backbone's features.</summary>
    public required string Mode { get; set; }
    /// <summary>The cross-validation whose out-of-fold predictions it used (mode "cross-validation"), or null (other modes, or a search stored before this was recorded).</summary>
    public int? CrossValidationId { get; set; }
    public int Folds { get; set; }
    public int Seed { get; set; }
    public int Images { get; set; }
    public int Issues { get; set; }
    /// <summary>Originals (source group and label) searched, and those most of whose copies are flagged; null for a search stored before they were counted.</summary>
    public int? Originals { get; set; }
    public int? LikelyOriginals { get; set; }
    public double Seconds { get; set; }
    public required string ResultJson { get; set; }
}
