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
