using WbcPortal.Services.Accounts;
using System.Collections.Concurrent;
using WbcPortal.Engine.Smears;
using WbcPortal.Options;
using WbcPortal.Services.Batches;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Services.Smears;

/// <summary>
/// A smear batch as a page sees it now: its files, its job on the portal's job system (queued, running with its progress,
/// failed with its reason, cancelled), its cells once read and the reviewer's corrections.
/// </summary>
public sealed class SmearJob
{
    internal SmearJob(SmearBatchManifest manifest, JobView? run, SmearBatchOutcome? outcome, IReadOnlyList<SmearCorrection> corrections, bool canRunAgain)
    {
        Manifest = manifest;
        Run = run;
        (State, Error) = BatchRuns.StateOf(run, outcome is null ? null : (outcome.State == SmearJobState.Finished, outcome.Error));
        Progress = run?.Progress ?? new JobProgress(State == JobState.Succeeded ? 1 : 0, "");
        Result = State == JobState.Succeeded && outcome is { Labels.Count: > 0 } ? new SmearBatch(manifest.Model, outcome.Labels, outcome.RejectThreshold, outcome.Images) : null;
        Seconds = outcome?.Seconds ?? 0;
        Corrections = corrections;
        CanRunAgain = canRunAgain;
    }

    public SmearBatchManifest Manifest { get; }
    public string Id => Manifest.Id;
    public ModelChoice Model => Manifest.Model;
    public IReadOnlyList<string> Files => Manifest.Files;
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
    public SmearBatch? Result { get; }
    public double Seconds { get; }
    public bool CanRunAgain { get; }
    /// <summary>Every correction on record, undone ones included, oldest first.</summary>
    public IReadOnlyList<SmearCorrection> Corrections { get; }

    /// <summary>The cells in force of smear <paramref name="image"/>: the model's, corrections applied.</summary>
    public IReadOnlyList<SmearCellResult> Cells(int image) =>
        Result is { } r && image >= 0 && image < r.Images.Count ? SmearCorrections.Apply(r.Images[image], image, Corrections) : [];

    /// <summary>The differential count of the whole batch as it stands (corrections applied): one query for the page, the report and the API.</summary>
    public DifferentialCount Count() => Result is { } r
        ? SmearCorrections.Count(r.Labels, r.Images.Select((_, i) => Cells(i)).ToList())
        : DifferentialCount.Of([], []);

    /// <summary>The batch as it stands, corrections applied, for the report and JSON.</summary>
    public SmearBatch? Current() => Result is { } r ? r with { Images = r.Images.Select((img, i) => img with { Cells = Cells(i) }).ToList() } : null;
}

/// <summary>A Smears batch on the job system: every white cell of the stored batch <paramref name="BatchId"/>'s smears found and classified.</summary>
public sealed record SmearBatchJob(string BatchId, string Model, int Smears) : JobRequest
{
    public override JobKind Kind => JobKind.SmearBatch;
    public override string Subject => BatchId;
    public override string Description => $"read {Smears:N0} smear{(Smears == 1 ? "" : "s")} with {Model}";
    public override string CancelledNote => "the batch's smears are kept: read them again";
    /// <summary>It writes only its own batch folder, which a read-only portal keeps in memory instead.</summary>
    public override bool RunsOnReadOnlyPortal => true;
}

/// <summary>What a finished smear batch tells its job card (the cells themselves are the batch store's).</summary>
public sealed record SmearBatchDone(string BatchId, int Cells, int NotRead, double Seconds);

/// <summary>The smear batches this process holds, shared by <see cref="SmearJobs"/> and the job handler (<see cref="HeldBatches{TManifest, TOutcome}"/>).</summary>
public sealed class SmearBatches(SmearBatchStore store, ILogger<SmearBatches> logger) : HeldBatches<SmearBatchManifest, SmearBatchOutcome>(store, logger);

/// <summary>Runs a <see cref="SmearBatchJob"/>: reads the batch's smears and keeps the cells (or why it failed) with the batch.</summary>
internal sealed class SmearBatchJobHandler(SmearService smears, SmearBatches batches, ILogger<SmearBatchJobHandler> logger) : JobHandler<SmearBatchJob, SmearBatchDone>
{
    protected override async Task<SmearBatchDone> RunAsync(SmearBatchJob job, JobContext context)
    {
        var batch = batches.Find(job.BatchId)
            ?? throw new InvalidOperationException("The batch is no longer stored (only the newest batches are kept): choose the smears again.");
        var inputs = batches.InputsOf(job.BatchId) ?? throw new InvalidOperationException("The batch's smears are no longer stored: choose them again.");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        SmearBatch result;
        try
        {
            result = await smears.AnalyzeAsync(batch.Manifest.Model, inputs, context.Counting(inputs.Count, "smears"), context.CancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Smear batch {Batch} failed", job.BatchId);
            await batches.RecordAsync(batch, new SmearBatchOutcome(SmearJobState.Failed, UserFacingError.Describe(ex), watch.Elapsed.TotalSeconds, [], 0, []));
            throw;
        }
        await batches.RecordAsync(batch, new SmearBatchOutcome(SmearJobState.Finished, null, watch.Elapsed.TotalSeconds, result.Labels, result.RejectThreshold, result.Images));
        return new SmearBatchDone(job.BatchId, result.Images.Sum(i => i.Cells.Count), result.Images.Count(i => i.Error is not null), watch.Elapsed.TotalSeconds);
    }
}

/// <summary>
/// Smear batches, never run on a page's circuit: a page queues one (<see cref="EnqueueAsync"/>) and follows its job on
/// the board. The smears are stored (<see cref="SmearBatchStore"/>) before its <see cref="SmearBatchJob"/> is queued, the
/// cells when it ends; found again after a refresh or a restart (a batch a stop cut short says so and runs again). On a
/// read-only portal the batch and its job are held in memory only. Corrections are stored beside the answers, each with
/// who and when, and are undone by marking, never by deleting. The newest <see cref="InferenceOptions.KeptBatches"/>
/// batches are kept, and every batch a reviewer corrected.
/// </summary>
public sealed class SmearJobs(SmearBatches batches, SmearBatchStore store, PortalJobs jobs, InferenceOptions options, TimeProvider clock, ILogger<SmearJobs> logger,
    Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public const string InterruptedReason = BatchRuns.InterruptedReason;

    private readonly ConcurrentDictionary<string, IReadOnlyList<SmearCorrection>> corrected = new(StringComparer.Ordinal);
    private readonly ChangeNotifier<string> changes = new(logger);
    private readonly SemaphoreSlim corrections = new(1, 1);

    /// <summary>Hears of a batch's corrections (its job's changes are the board's: <see cref="PortalJobs.Subscribe"/>).</summary>
    public IDisposable Subscribe(Action<string> onChange) => changes.Subscribe(onChange);

    /// <summary>True on a read-only portal: batches run here, in memory only, and nothing can be corrected.</summary>
    public bool ReadOnly => !batches.Stored;

    /// <summary>Stored batches, newest first (ids and start times); on a read-only portal those held in memory.</summary>
    public IReadOnlyList<(string Id, DateTimeOffset StartedAt)> List() => batches.List();

    /// <summary>A batch as it stands now (held here, else stored), or null.</summary>
    public SmearJob? Get(string id)
    {
        var run = jobs.Recent(JobKind.SmearBatch, id).FirstOrDefault();
        if (batches.Find(id, endedElsewhere: run is { Finished: true }) is not { } batch) return null;
        return new SmearJob(batch.Manifest, run, batch.Outcome, corrected.GetOrAdd(id, store.Corrections), batches.CanRunAgain(batch));
    }

    /// <summary>Stores the smears as a new batch and queues reading them with <paramref name="model"/>.</summary>
    [Demands(PortalAction.Classify)]
    public async Task<SmearJob> EnqueueAsync(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IReadOnlyList<SkippedFile> skipped, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        if (inputs.Count == 0) throw new ArgumentException("No smear image to read.");
        if (inputs.Count > options.MaxImagesPerBatch) throw new ArgumentException($"{inputs.Count:N0} smears; a batch takes at most {options.MaxImagesPerBatch:N0}.");
        var manifest = new SmearBatchManifest(Guid.NewGuid().ToString("N")[..12], model, inputs.Select(i => i.File).ToList(), skipped, clock.GetUtcNow());
        try
        {
            await batches.HoldNewAsync(manifest, inputs, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new IOException($"The batch could not be stored in the data folder ({ex.Message}); nothing was read.", ex);
        }
        try
        {
            await jobs.EnqueueAsync(new SmearBatchJob(manifest.Id, model.Name, inputs.Count), cancellationToken: cancellationToken);
        }
        catch
        {
            batches.Discard(manifest.Id);
            throw;
        }
        // A batch a reviewer corrected is a record of their work: it is never trimmed with the others.
        var spared = batches.List().Select(b => b.Id).Where(id => jobs.IsBusy(JobKind.SmearBatch, id) || (store.Enabled && store.Corrections(id).Count > 0))
            .ToHashSet(StringComparer.Ordinal);
        batches.Trim(options.KeptBatches, spared);
        foreach (var gone in corrected.Keys.Where(id => batches.Find(id) is null)) corrected.TryRemove(gone, out _);
        return Get(manifest.Id)!;
    }

    /// <summary>Queues reading a held batch's smears again, with its own model or another; a new batch.</summary>
    [Demands(PortalAction.Classify)]
    public async Task<SmearJob> EnqueueAgainAsync(string id, ModelChoice? model = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        var previous = Get(id) ?? throw new ArgumentException("That batch is no longer held.");
        var inputs = batches.InputsOf(id) ?? throw new ArgumentException("That batch's images are no longer stored: choose the images again.");
        return await EnqueueAsync(model ?? previous.Model, inputs, previous.Skipped, cancellationToken);
    }

    public byte[]? ImageBytes(string id, int index) => Get(id) is { } job && index >= 0 && index < job.Total ? batches.ImageBytes(id, index) : null;

    /// <summary>Records a reviewer's change to a cell (checked against the smear) and notifies the pages; the count follows at once.</summary>
    [Demands(PortalAction.CorrectSmears)]
    public async Task<SmearCorrection> CorrectAsync(string id, int image, int cell, SmearCorrectionKind kind, int[]? box, string? label, string reviewer, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.CorrectSmears);
        if (actor.UserName is { } signedIn) reviewer = signedIn;
        if (!store.Enabled) throw new InvalidOperationException("This portal is read-only: corrections are made on the portal that holds the data folder, where they are kept.");
        if (string.IsNullOrWhiteSpace(reviewer)) throw new ArgumentException("Give your name before correcting: every change is recorded with who made it.");
        await corrections.WaitAsync(cancellationToken);
        try
        {
            var job = Get(id) ?? throw new ArgumentException("That batch is no longer held.");
            var result = job.Result ?? throw new ArgumentException("The batch has no cells yet.");
            if (image < 0 || image >= result.Images.Count || result.Images[image].Error is not null) throw new ArgumentException("No such smear in this batch.");
            var smear = result.Images[image];
            var inForce = job.Cells(image);
            if (kind == SmearCorrectionKind.Add) cell = SmearCorrections.NextCellId(smear, job.Corrections, image);
            else if (inForce.All(c => c.Id != cell)) throw new ArgumentException("That cell is not on the smear any more.");
            if (kind is SmearCorrectionKind.Add or SmearCorrectionKind.Move) box = SmearCorrections.Checked(box ?? [], smear);
            if (kind is SmearCorrectionKind.Add or SmearCorrectionKind.Relabel)
            {
                if (string.IsNullOrWhiteSpace(label)) throw new ArgumentException("Choose a class.");
                label = label.Trim();
                if (label.Length > 64) throw new ArgumentException("A class name is at most 64 characters.");
            }
            var correction = new SmearCorrection(job.Corrections.Count == 0 ? 1 : job.Corrections.Max(c => c.Sequence) + 1, image, cell, kind,
                kind is SmearCorrectionKind.Add or SmearCorrectionKind.Move ? box : null,
                kind is SmearCorrectionKind.Add or SmearCorrectionKind.Relabel ? label : null, reviewer.Trim(), clock.GetUtcNow());
            await SaveAsync(job, [.. job.Corrections, correction], cancellationToken);
            await audit.RecordAsync(AuditAction.SmearCorrected, $"smear batch {id}, image {image + 1}, cell {cell}", $"{kind} {label}", cancellationToken: CancellationToken.None);
            return correction;
        }
        finally
        {
            corrections.Release();
        }
    }

    /// <summary>Undoes the newest change in force of smear <paramref name="image"/> (or of the whole batch when null); it stays on record as undone. False when nothing is left to undo.</summary>
    [Demands(PortalAction.CorrectSmears)]
    public async Task<bool> UndoAsync(string id, int? image, string reviewer, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.CorrectSmears);
        if (actor.UserName is { } signedIn) reviewer = signedIn;
        if (!store.Enabled) throw new InvalidOperationException("This portal is read-only: nothing to undo here.");
        await corrections.WaitAsync(cancellationToken);
        try
        {
            var job = Get(id) ?? throw new ArgumentException("That batch is no longer held.");
            var last = job.Corrections.Where(c => c.UndoneAt is null && (image is null || c.Image == image)).MaxBy(c => c.Sequence);
            if (last is null) return false;
            var undone = last with { UndoneAt = clock.GetUtcNow(), UndoneBy = string.IsNullOrWhiteSpace(reviewer) ? "unknown" : reviewer.Trim() };
            await SaveAsync(job, job.Corrections.Select(c => c.Sequence == last.Sequence ? undone : c).ToList(), cancellationToken);
            await audit.RecordAsync(AuditAction.SmearCorrectionUndone, $"smear batch {id}", null, cancellationToken: CancellationToken.None);
            return true;
        }
        finally
        {
            corrections.Release();
        }
    }

    private async Task SaveAsync(SmearJob job, IReadOnlyList<SmearCorrection> list, CancellationToken cancellationToken)
    {
        await store.SaveCorrectionsAsync(job.Id, list, cancellationToken);
        corrected[job.Id] = list;
        changes.Notify(job.Id);
    }
}
