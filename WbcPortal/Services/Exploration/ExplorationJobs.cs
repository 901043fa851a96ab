using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Services.Exploration;

/// <summary>Explore's measurements of a dataset on the job system: up to <paramref name="SamplePerClass"/> images per class measured.</summary>
/// <param name="Content">The content's fingerprint when it was asked for (<see cref="ExplorationKey.Content"/>): which measurement the page waits on.</param>
public sealed record ExplorationJob(int DatasetId, string Dataset, string Content, int SamplePerClass) : JobRequest
{
    public override JobKind Kind => JobKind.Exploration;
    public override string Subject => Dataset;
    public override string Description => $"Explore's measurements (up to {SamplePerClass:N0} images per class)";
    public override string CancelledNote => "nothing was stored; Explore measures again when asked";
    /// <summary>It writes nothing to the database, only its measurement file, which a read-only portal keeps in memory instead.</summary>
    public override bool RunsOnReadOnlyPortal => true;

    public ExplorationKey Key => new(DatasetId, Content, SamplePerClass);
}

/// <summary>What a finished measurement tells its card (the measures themselves are <see cref="ExplorationService"/>'s).</summary>
public sealed record ExplorationDone(int DatasetId, string Content, int Measured, int Failed, double Seconds);

/// <summary>Runs an <see cref="ExplorationJob"/>: measures the dataset and keeps the result (<see cref="ExplorationService.MeasureAsync"/>).</summary>
internal sealed class ExplorationJobHandler(ExplorationService exploration) : JobHandler<ExplorationJob, ExplorationDone>
{
    protected override async Task<ExplorationDone> RunAsync(ExplorationJob job, JobContext context)
    {
        var progress = new InlineProgress<double>(f => context.Progress.Report(new JobProgress(f, $"measured {f:P0} of the sample")));
        var (key, result) = await exploration.MeasureAsync(job.DatasetId, job.SamplePerClass, progress, context.CancellationToken);
        context.Progress.Report(new JobProgress(1, $"{result.Measured:N0} images measured"));
        return new ExplorationDone(key.DatasetId, key.Content, result.Measured, result.Failed, result.Elapsed.TotalSeconds);
    }
}

/// <summary>A dataset's measurement as Explore sees it now: the measures once made, and its newest job on the board.</summary>
public sealed record ExplorationMeasurement(ExplorationKey Key, ExplorationResult? Result, JobView? Job)
{
    /// <summary>Neither made nor asked for (or its job is gone from the board): Explore queues it.</summary>
    public bool NeverAsked => Result is null && Job is null;
    public bool Running => Result is null && Job is { Finished: false };
}

/// <summary>
/// Explore's side of the measurements: where one stands (made, else its newest job) and a typed way to queue it. The page follows
/// the job on the board (<see cref="PortalJobs.Subscribe"/>, <see cref="Concerns"/>).
/// </summary>
public sealed class ExplorationJobs(ExplorationService exploration, PortalJobs jobs)
{
    public async Task<ExplorationMeasurement> GetAsync(DatasetSummary dataset, int samplePerClass = ExplorationService.DefaultSamplePerClass, CancellationToken cancellationToken = default) =>
        For(dataset, await exploration.KeyAsync(dataset.Id, samplePerClass, cancellationToken));

    /// <summary>Where the measurement of <paramref name="key"/> stands now (no database read: for a page's re-render on a board change).</summary>
    public ExplorationMeasurement For(DatasetSummary dataset, ExplorationKey key) =>
        new(key, exploration.Measured(key), jobs.Recent(JobKind.Exploration, dataset.Name).FirstOrDefault(j => j.Request is ExplorationJob e && e.Key == key));

    /// <summary>Whether a board change is about a measurement of dataset <paramref name="datasetId"/>.</summary>
    public static bool Concerns(JobView change, int datasetId) => change.Kind == JobKind.Exploration && change.Request is ExplorationJob e && e.DatasetId == datasetId;

    /// <summary>
    /// Queues measuring the dataset as it is now, unless that measurement is made or being made: returns where it stands then.
    /// A cache of the dataset for reading, made on first view by whoever explores it.
    /// </summary>
    public async Task<ExplorationMeasurement> EnqueueAsync(DatasetSummary dataset, int samplePerClass = ExplorationService.DefaultSamplePerClass, CancellationToken cancellationToken = default)
    {
        var now = await GetAsync(dataset, samplePerClass, cancellationToken);
        if (now.Result is not null || now.Running) return now;
        var job = await jobs.EnqueueAsync(new ExplorationJob(dataset.Id, dataset.Name, now.Key.Content, samplePerClass), cancellationToken: cancellationToken);
        return now with { Job = job };
    }

    /// <summary>Stops a measurement (its job ends Cancelled; nothing is stored). False when it is not going on.</summary>
    public async Task<bool> CancelAsync(ExplorationMeasurement measurement, CancellationToken cancellationToken = default) =>
        measurement.Job is { Finished: false } job && await jobs.CancelAsync(job.Id, cancellationToken);
}
