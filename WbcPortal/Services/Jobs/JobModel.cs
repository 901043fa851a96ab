using System.Text.Json.Serialization;

namespace WbcPortal.Services.Jobs;

/// <summary>Every kind of background job the portal queues (stored by name: rename none without a migration).</summary>
public enum JobKind
{
    Import,
    Grouping,
    Split,
    LeakCheck,
    Version,
    LabelIssues,
    Evaluation,
    /// <summary>Does nothing: shows that a worker takes work, and measures the queue (<c>bench --only jobs</c>).</summary>
    Probe,
    /// <summary>A Classify batch: uploaded images classified with a model (its images and answers kept by <c>ClassifyBatchStore</c>).</summary>
    ClassifyBatch,
    /// <summary>A Smears batch: every white cell of uploaded smears found and classified (kept by <c>SmearBatchStore</c>).</summary>
    SmearBatch,
    /// <summary>A run's nearest-image index: its training images' features with its own model (kept beside the run by <c>NeighbourService</c>).</summary>
    NeighbourIndex,
    /// <summary>Explore's measurements of a dataset's content (kept in the data folder by <c>ExplorationService</c>).</summary>
    Exploration,
    /// <summary>One deployable model from a cross-validation's fold models (registered by <c>CrossValidationModels</c>).</summary>
    CrossValidationModel,
}

public enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    /// <summary>Stopped by a user; <see cref="JobView.CancelledNote"/> says what was kept.</summary>
    Cancelled,
}

/// <summary>Progress as a job reports it: a fraction and a line for people.</summary>
public sealed record JobProgress(double Fraction, string Text);

/// <summary>
/// What a job is asked to do: one record type per <see cref="JobKind"/>, stored as JSON with the job, so a queued job
/// survives a restart and any worker node can run it. Everything a page shows about a job it has not started yet
/// (its subject, description, what a cancel keeps) comes from here.
/// </summary>
public abstract record JobRequest
{
    [JsonIgnore] public abstract JobKind Kind { get; }
    /// <summary>What the job works on, as pages filter by it (a dataset's name).</summary>
    [JsonIgnore] public abstract string Subject { get; }
    [JsonIgnore] public abstract string Description { get; }
    /// <summary>What is kept when a user cancels the job, shown on its card.</summary>
    [JsonIgnore] public abstract string CancelledNote { get; }
    /// <summary>
    /// Whether a read-only portal runs it too (in process, its record in memory only: <see cref="JobDatabase"/>): work that
    /// writes nothing to the database nor the data folder there. Every other kind is refused there with the reason.
    /// </summary>
    [JsonIgnore] public virtual bool RunsOnReadOnlyPortal => false;
}

/// <summary>A job as pages see it: an immutable snapshot, replaced on every change.</summary>
public sealed record JobView
{
    public required Guid Id { get; init; }
    public required JobKind Kind { get; init; }
    /// <summary>The dataset (or other subject) the job works on.</summary>
    public required string Subject { get; init; }
    public required string Description { get; init; }
    /// <summary>What the job was asked to do (null only when a stored request can no longer be read).</summary>
    public JobRequest? Request { get; init; }
    public DateTimeOffset QueuedAt { get; init; }
    public JobState State { get; init; }
    public JobProgress Progress { get; init; } = new(0, "queued");
    /// <summary>The handler's result (its <see cref="IJobHandler.ResultType"/>) once the job succeeded.</summary>
    public object? Result { get; init; }
    public string? Error { get; init; }
    public string? CancelledNote { get; init; }
    /// <summary>Cancel was asked for; the job ends at its next cancellation check.</summary>
    public bool CancelRequested { get; init; }
    public bool Finished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
    /// <summary>The job card's test id and the kind's name in URLs: "import", "leak-check", ….</summary>
    public string KindName => JobKinds.Name(Kind);
}

public static class JobKinds
{
    /// <summary>A kind's name for people and test ids: LeakCheck is "leak-check".</summary>
    public static string Name(JobKind kind) =>
        string.Concat(kind.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? $"-{char.ToLowerInvariant(c)}" : char.ToLowerInvariant(c).ToString()));

    /// <summary>
    /// Hangfire's queue a kind runs on: dataset work (Explore's measurements included) is CPU work, one job at a time; the
    /// model's work (Classify and Smears batches, a run's nearest-image index, a cross-validation's model) runs on its own
    /// workers, so it never waits behind an import.
    /// </summary>
    public static string Queue(JobKind kind) =>
        kind is JobKind.ClassifyBatch or JobKind.SmearBatch or JobKind.NeighbourIndex or JobKind.CrossValidationModel ? InferenceQueue : CpuQueue;

    /// <summary>Every job but training: import, grouping, splits, evaluations, … (<c>Jobs:CpuWorkers</c> at once per node).</summary>
    public const string CpuQueue = "cpu";

    /// <summary>Training runs and cross-validation folds: one at a time per node, on its device (CUDA when present).</summary>
    public const string GpuQueue = "gpu";

    /// <summary>The model's work: Classify and Smears batches, a run's nearest-image index, a cross-validation's model, on their own workers (<c>Jobs:InferenceWorkers</c>), so it never waits behind an import.</summary>
    public const string InferenceQueue = "inference";

    public static readonly IReadOnlyList<string> AllQueues = [GpuQueue, CpuQueue, InferenceQueue];

    /// <summary>
    /// A queue list as configured (<c>Jobs:Queues</c>, <c>worker --queues</c>): comma-separated names from <see cref="AllQueues"/>;
    /// empty or <c>none</c> for no queue. Throws <see cref="ArgumentException"/> naming an unknown queue.
    /// </summary>
    public static IReadOnlyList<string> ParseQueues(string? text)
    {
        var names = (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => n.ToLowerInvariant()).Where(n => n != "none").Distinct().ToList();
        var unknown = names.Where(n => !AllQueues.Contains(n)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown queue(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}: the queues are {string.Join(", ", AllQueues)} (or none)");
        return names;
    }
}

/// <summary>Adapters from the Engine's progress types to <see cref="JobProgress"/>.</summary>
public static class JobProgressAdapters
{
    public static IProgress<Engine.Datasets.Import.ImportProgress> ForImport(this IProgress<JobProgress> job) =>
        new Adapter<Engine.Datasets.Import.ImportProgress>(p => job.Report(new JobProgress(
            p.Total == 0 ? 0 : (double)p.Done / p.Total, $"checked {p.Done:N0} of {p.Total:N0} · {p.Rejected:N0} not imported")));

    public static IProgress<double> ForFraction(this IProgress<JobProgress> job, string what) =>
        new Adapter<double>(f => job.Report(new JobProgress(f, $"{what}: {f:P0}")));

    private sealed class Adapter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
