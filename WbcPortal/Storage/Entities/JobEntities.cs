using WbcPortal.Services.Jobs;

namespace WbcPortal.Storage.Entities;

/// <summary>
/// A background job as stored: what it was asked to do (<see cref="RequestJson"/>, typed by <see cref="Kind"/>), its state,
/// progress, outcome and who queued it. Written only through <see cref="PortalJobs"/> and <see cref="JobRunner"/>; any node
/// of the portal reads it, so a job queued on one node and run on another shows on every page.
/// </summary>
public sealed class JobRecord
{
    public Guid Id { get; set; }
    public JobKind Kind { get; set; }
    /// <summary>What the job works on, as pages filter by it (a dataset's name).</summary>
    public required string Subject { get; set; }
    public required string Description { get; set; }
    public JobState State { get; set; }
    public double ProgressFraction { get; set; }
    public string ProgressText { get; set; } = "queued";
    public string? Error { get; set; }
    public string? CancelledNote { get; set; }
    public bool CancelRequested { get; set; }
    public required string RequestJson { get; set; }
    public string? ResultJson { get; set; }
    /// <summary>The staged upload the job reads (under the data folder's uploads/), given back when it ends.</summary>
    public string? InputFolder { get; set; }
    /// <summary>Who queued it (<see cref="Services.Accounts.Actor"/> as JSON): the job runs as them.</summary>
    public required string ActorJson { get; set; }
    /// <summary>The process that runs or ran it (host and pid).</summary>
    public string? Node { get; set; }
    /// <summary>
    /// How many times a node has started it: 1 for the first; each take-over of a job whose process died adds one (up to
    /// <see cref="JobsOptions.MaxAttempts"/>, then it fails with the reason).
    /// </summary>
    public int Attempts { get; set; }
    public DateTimeOffset QueuedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>Bumped on every write: the pages of other nodes poll for records changed since they last looked.</summary>
    public DateTimeOffset UpdatedAt { get; set; }
}
