using WbcPortal.Services.Accounts;
using System.Globalization;
using System.Text;
using WbcPortal.Services.Batches;
using WbcPortal.Services.Jobs;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Options;

namespace WbcPortal.Services.Classify;

/// <summary>How a stored batch ended, as <c>outcome.json</c> says (its numbers are stored: append only). Pages read <see cref="JobState"/>.</summary>
public enum ClassifyJobState { Running, Finished, Failed }

/// <summary>
/// A Classify batch as a page sees it now: its files, its job on the portal's job system (queued, running with its progress,
/// failed with its reason, cancelled) and, once classified, its answers (from <see cref="ClassifyBatchStore"/>).
/// </summary>
public sealed class ClassifyJob
{
    internal ClassifyJob(ClassifyBatchManifest manifest, JobView? run, ClassifyBatchOutcome? outcome, bool canRunAgain)
    {
        Manifest = manifest;
        Run = run;
        (State, Error) = BatchRuns.StateOf(run, outcome is null ? null : (outcome.State == ClassifyJobState.Finished, outcome.Error));
        Progress = run?.Progress ?? new JobProgress(State == JobState.Succeeded ? 1 : 0, "");
        Result = State == JobState.Succeeded ? outcome?.Result : null;
        Seconds = outcome?.Seconds ?? 0;
        CanRunAgain = canRunAgain;
    }

    internal ClassifyBatchManifest Manifest { get; }
    public string Id => Manifest.Id;
    public ModelChoice Model => Manifest.Model;
    /// <summary>The images' names as uploaded, in input order.</summary>
    public IReadOnlyList<string> Files => Manifest.Files;
    /// <summary>Files refused before classifying (not an image, in a zip too deep, ...), with the reason.</summary>
    public IReadOnlyList<SkippedFile> Skipped => Manifest.Skipped;
    public DateTimeOffset StartedAt => Manifest.StartedAt;
    public int Total => Files.Count;
    /// <summary>Its newest job on the board (to cancel it, or read its progress line); null once the board no longer holds it.</summary>
    public JobView? Run { get; }
    public JobState State { get; }
    public JobProgress Progress { get; }
    public int Done => BatchRuns.Done(State, Progress, Total);
    public bool Finished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
    public string? Error { get; }
    public PredictionBatch? Result { get; }
    public double Seconds { get; }
    /// <summary>Whether its images are still held (stored, or in memory on a read-only portal), so it can be classified again.</summary>
    public bool CanRunAgain { get; }
}

/// <summary>A Classify batch on the job system: the stored batch <paramref name="BatchId"/>'s images classified with its model.</summary>
public sealed record ClassifyBatchJob(string BatchId, string Model, int Images) : JobRequest
{
    public override JobKind Kind => JobKind.ClassifyBatch;
    public override string Subject => BatchId;
    public override string Description => $"classify {Images:N0} image{(Images == 1 ? "" : "s")} with {Model}";
    public override string CancelledNote => "the batch's images are kept: classify them again";
    /// <summary>It writes only its own batch folder, which a read-only portal keeps in memory instead.</summary>
    public override bool RunsOnReadOnlyPortal => true;
}

/// <summary>What a finished Classify batch tells its job card (the answers themselves are the batch store's).</summary>
public sealed record ClassifyBatchDone(string BatchId, int Answered, int NotRead, double Seconds);

/// <summary>The Classify batches this process holds, shared by <see cref="ClassifyJobs"/> and the job handler (<see cref="HeldBatches{TManifest, TOutcome}"/>).</summary>
public sealed class ClassifyBatches(ClassifyBatchStore store, ILogger<ClassifyBatches> logger) : HeldBatches<ClassifyBatchManifest, ClassifyBatchOutcome>(store, logger);

/// <summary>Runs a <see cref="ClassifyBatchJob"/>: classifies the batch's images and keeps its answers (or why it failed) with the batch.</summary>
internal sealed class ClassifyBatchJobHandler(PredictionService predictions, ClassifyBatches batches, ILogger<ClassifyBatchJobHandler> logger)
    : JobHandler<ClassifyBatchJob, ClassifyBatchDone>
{
    protected override async Task<ClassifyBatchDone> RunAsync(ClassifyBatchJob job, JobContext context)
    {
        var batch = batches.Find(job.BatchId)
            ?? throw new InvalidOperationException("The batch is no longer stored (only the newest batches are kept): choose the images again.");
        var inputs = batches.InputsOf(job.BatchId) ?? throw new InvalidOperationException("The batch's images are no longer stored: choose the images again.");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        PredictionBatch result;
        try
        {
            result = await predictions.PredictAsync(batch.Manifest.Model, inputs, context.Counting(inputs.Count, "images"), context.CancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The batch keeps its reason beside its images, for when the board no longer holds its job.
            logger.LogWarning(ex, "Classify batch {Batch} failed", job.BatchId);
            await batches.RecordAsync(batch, new ClassifyBatchOutcome(ClassifyJobState.Failed, UserFacingError.Describe(ex), watch.Elapsed.TotalSeconds, null));
            throw;
        }
        await batches.RecordAsync(batch, new ClassifyBatchOutcome(ClassifyJobState.Finished, null, watch.Elapsed.TotalSeconds, result));
        int answered = result.Outcomes.Count(o => o.Prediction is not null);
        return new ClassifyBatchDone(job.BatchId, answered, result.Outcomes.Count - answered, watch.Elapsed.TotalSeconds);
    }
}

/// <summary>
/// Classify batches, never run on a page's circuit: a page queues one (<see cref="EnqueueAsync"/>), puts its id in the
/// address and follows its job on the board. Each batch's images are stored (<see cref="ClassifyBatchStore"/>) before its
/// <see cref="ClassifyBatchJob"/> is queued, and its answers when it ends, so a refresh or a restart finds it again and a
/// queued batch still runs after a restart; a batch a stop cut short says so and can be classified again from its stored
/// images. On a read-only portal the batch and its job are held in memory only. The newest
/// <see cref="InferenceOptions.KeptBatches"/> are kept, the oldest deleted first.
/// </summary>
public sealed class ClassifyJobs(ClassifyBatches batches, PortalJobs jobs, InferenceOptions options, TimeProvider clock, Accounts.AccessControl access)
{
    /// <summary>The reason shown for a batch that was classifying when the portal stopped.</summary>
    public const string InterruptedReason = BatchRuns.InterruptedReason;

    /// <summary>True on a read-only portal: batches run here, in memory only, and are gone when it stops.</summary>
    public bool ReadOnly => !batches.Stored;

    /// <summary>A batch as it stands now (held here, else stored), or null.</summary>
    public ClassifyJob? Get(string id)
    {
        var run = jobs.Recent(JobKind.ClassifyBatch, id).FirstOrDefault();
        // Run by another node: the store says how it ended.
        return batches.Find(id, endedElsewhere: run is { Finished: true }) is { } batch
            ? new ClassifyJob(batch.Manifest, run, batch.Outcome, batches.CanRunAgain(batch))
            : null;
    }

    /// <summary>Stores <paramref name="inputs"/> as a new batch and queues classifying them with <paramref name="model"/>.</summary>
    [Demands(PortalAction.Classify)]
    public async Task<ClassifyJob> EnqueueAsync(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IReadOnlyList<SkippedFile> skipped, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        if (inputs.Count == 0) throw new ArgumentException("No image to classify.");
        if (inputs.Count > options.MaxImagesPerBatch) throw new ArgumentException($"{inputs.Count:N0} images; a batch takes at most {options.MaxImagesPerBatch:N0}.");
        var manifest = new ClassifyBatchManifest(Guid.NewGuid().ToString("N")[..12], model, inputs.Select(i => i.File).ToList(), skipped, clock.GetUtcNow());
        try
        {
            await batches.HoldNewAsync(manifest, inputs, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new IOException($"The batch could not be stored in the data folder ({ex.Message}); nothing was classified.", ex);
        }
        try
        {
            await jobs.EnqueueAsync(new ClassifyBatchJob(manifest.Id, model.Name, inputs.Count), cancellationToken: cancellationToken);
        }
        catch
        {
            batches.Discard(manifest.Id);
            throw;
        }
        batches.Trim(options.KeptBatches, batches.List().Select(b => b.Id).Where(id => jobs.IsBusy(JobKind.ClassifyBatch, id)).ToHashSet(StringComparer.Ordinal));
        return Get(manifest.Id)!;
    }

    /// <summary>Queues classifying a held batch's images again, with its own model or another; a new batch.</summary>
    [Demands(PortalAction.Classify)]
    public async Task<ClassifyJob> EnqueueAgainAsync(string id, ModelChoice? model = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        var previous = Get(id) ?? throw new ArgumentException("That batch is no longer held.");
        var inputs = batches.InputsOf(id) ?? throw new ArgumentException("That batch's images are no longer stored: choose the images again.");
        return await EnqueueAsync(model ?? previous.Model, inputs, previous.Skipped, cancellationToken);
    }

    /// <summary>The uploaded bytes of image <paramref name="index"/> of a batch, or null.</summary>
    public byte[]? ImageBytes(string id, int index) => Get(id) is { } job && index >= 0 && index < job.Total ? batches.ImageBytes(id, index) : null;

    /// <summary>The batch as CSV: one row per image (file, answer, confidence, guess when unidentified, every class's probability, error).</summary>
    public static string Csv(ClassifyJob job) =>
        Csv(job.Result ?? throw new InvalidOperationException("The batch has no answers yet."), job.Skipped.Select(s => (s.File, s.Reason)));

    /// <summary>The page's CSV of a classified batch (also <c>POST /api/v1/predict</c> with <c>Accept: text/csv</c>): one row per image, skipped files last.</summary>
    public static string Csv(PredictionBatch batch, IEnumerable<(string File, string Reason)> skipped)
    {
        var csv = new StringBuilder();
        void Row(IEnumerable<string> cells) => csv.Append(string.Join(",", cells.Select(ReportCsv.Escape))).Append("\r\n");
        Row(new[] { "file", "answer", "confidence", "guess" }.Concat(batch.Labels.Select(l => $"p_{l}")).Append("error"));
        foreach (var o in batch.Outcomes)
        {
            if (o.Prediction is { } p)
                Row(new[] { o.File, p.Answer(batch.Labels), p.Decision.Confidence.ToString("0.0000", CultureInfo.InvariantCulture), p.Decision.Unidentified ? batch.Labels[p.Decision.Predicted] : "" }
                    .Concat(p.Probabilities.Select(v => v.ToString("0.0000", CultureInfo.InvariantCulture))).Append(""));
            else Row(new[] { o.File, "", "", "" }.Concat(batch.Labels.Select(_ => "")).Append(o.Error ?? ""));
        }
        foreach (var (file, reason) in skipped) Row(new[] { file, "", "", "" }.Concat(batch.Labels.Select(_ => "")).Append(reason));
        return csv.ToString();
    }
}
