using WbcPortal.Services.Jobs;

namespace WbcPortal.Services.Review;

/// <summary>A run's nearest-image index on the job system: its training images' features computed with its own model.</summary>
public sealed record NeighbourIndexJob(int RunId) : JobRequest
{
    public override JobKind Kind => JobKind.NeighbourIndex;
    public override string Subject => SubjectOf(RunId);
    public override string Description => "nearest-image index of its training images";
    public override string CancelledNote => "no index was stored; it is computed again when its nearest images are asked for";
    /// <summary>It writes nothing to the database, only its index beside the run, which a read-only portal keeps in memory instead.</summary>
    public override bool RunsOnReadOnlyPortal => true;

    /// <summary>The board's subject of a run's index jobs.</summary>
    public static string SubjectOf(int runId) => $"run {runId}";
}

/// <summary>What a finished index job tells its card.</summary>
public sealed record NeighbourIndexDone(int RunId, int Images);

/// <summary>Runs a <see cref="NeighbourIndexJob"/>: computes the run's index and keeps it (<see cref="NeighbourService.BuildAsync"/>).</summary>
internal sealed class NeighbourIndexJobHandler(NeighbourService neighbours) : JobHandler<NeighbourIndexJob, NeighbourIndexDone>
{
    protected override async Task<NeighbourIndexDone> RunAsync(NeighbourIndexJob job, JobContext context) =>
        new(job.RunId, await neighbours.BuildAsync(job.RunId, context.Progress, context.CancellationToken));
}

/// <summary>
/// The review page's side of a run's nearest-image index: where it stands (its file, else its newest job on the board) and a
/// typed way to queue computing it; the page follows the job on the board (<see cref="PortalJobs.Subscribe"/>).
/// </summary>
public sealed class NeighbourJobs(NeighbourService neighbours, PortalJobs jobs)
{
    public NeighbourIndexStatus Status(int runId)
    {
        var job = jobs.Recent(JobKind.NeighbourIndex, NeighbourIndexJob.SubjectOf(runId)).FirstOrDefault();
        if (job is { Finished: false }) return new(NeighbourIndexState.Building, job);
        if (neighbours.HasIndex(runId)) return new(NeighbourIndexState.Ready, job);
        return job?.State switch
        {
            JobState.Failed => new(NeighbourIndexState.Failed, job),
            JobState.Cancelled => new(NeighbourIndexState.Cancelled, job),
            // Succeeded, but its file is gone (another node's, a data folder restored): computed again when asked for.
            _ => new(NeighbourIndexState.Missing, job),
        };
    }

    /// <summary>Whether a board change is about this run's index.</summary>
    public static bool Concerns(JobView change, int runId) => change.Kind == JobKind.NeighbourIndex && change.Subject == NeighbourIndexJob.SubjectOf(runId);

    /// <summary>
    /// Queues computing the run's index, unless it is there or being computed: returns where it stands then. A cache of the run
    /// for reading, computed on first view by whoever reviews it.
    /// </summary>
    public async Task<NeighbourIndexStatus> EnqueueBuildAsync(int runId, CancellationToken cancellationToken = default)
    {
        var status = Status(runId);
        if (status.State is NeighbourIndexState.Ready or NeighbourIndexState.Building) return status;
        var job = await jobs.EnqueueAsync(new NeighbourIndexJob(runId), cancellationToken: cancellationToken);
        return new(NeighbourIndexState.Building, job);
    }

    /// <summary>Stops computing the run's index (its job ends Cancelled; nothing is stored). False when none is going on.</summary>
    public async Task<bool> CancelAsync(int runId, CancellationToken cancellationToken = default) =>
        Status(runId) is { State: NeighbourIndexState.Building, Job: { } job } && await jobs.CancelAsync(job.Id, cancellationToken);
}
