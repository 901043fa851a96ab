using WbcPortal.Services.Accounts;
using System.Collections.Concurrent;
using WbcPortal.Engine.Smears;
using WbcPortal.Options;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Smears;

/// <summary>A smear batch: its files, progress, cells and the reviewer's corrections. Images are held in memory only while it runs.</summary>
public sealed class SmearJob
{
    internal SmearJob(SmearBatchManifest manifest) => Manifest = manifest;

    public SmearBatchManifest Manifest { get; }
    public string Id => Manifest.Id;
    public ModelChoice Model => Manifest.Model;
    public IReadOnlyList<string> Files => Manifest.Files;
    public IReadOnlyList<SkippedFile> Skipped => Manifest.Skipped;
    public DateTimeOffset StartedAt => Manifest.StartedAt;
    public int Total => Files.Count;
    public int Done => Volatile.Read(ref done);
    public SmearJobState State { get; internal set; }
    public string? Error { get; internal set; }
    public SmearBatch? Result { get; internal set; }
    public double Seconds { get; internal set; }
    public bool CanRunAgain { get; internal set; }
    /// <summary>Every correction on record, undone ones included, oldest first.</summary>
    public IReadOnlyList<SmearCorrection> Corrections { get; internal set; } = [];
    internal IReadOnlyList<PredictionInput>? Inputs { get; set; }
    internal int done;

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

/// <summary>
/// Smear batches in the background, never on a page's circuit: stored before they run (<see cref="SmearBatchStore"/>), answers
/// stored when they end, found again after a refresh or a restart (a batch a restart cut short says so and runs again).
/// Corrections are stored beside the answers, each with who and when, and are undone by marking, never by deleting. The newest
/// <see cref="InferenceOptions.KeptBatches"/> batches are kept, and every batch a reviewer corrected.
/// </summary>
public sealed class SmearJobs(SmearService smears, SmearBatchStore store, InferenceOptions options, TimeProvider clock, ILogger<SmearJobs> logger, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public const string InterruptedReason = "the portal stopped before this batch finished";

    private readonly ConcurrentDictionary<string, SmearJob> jobs = new(StringComparer.Ordinal);
    private readonly ChangeNotifier<string> changes = new(logger);
    private readonly SemaphoreSlim corrections = new(1, 1);

    public IDisposable Subscribe(Action<string> onChange) => changes.Subscribe(onChange);

    /// <summary>True on a read-only portal: batches run but are not kept, and nothing can be corrected.</summary>
    public bool ReadOnly => !store.Enabled;

    /// <summary>Stored batches, newest first (ids and start times).</summary>
    public IReadOnlyList<(string Id, DateTimeOffset StartedAt)> List() => store.Enabled
        ? store.List()
        : jobs.Values.OrderByDescending(j => j.StartedAt).Select(j => (j.Id, j.StartedAt)).ToList();

    public SmearJob? Get(string id)
    {
        if (jobs.TryGetValue(id, out var job)) return job;
        if (store.Load(id) is not { } stored) return null;
        var (manifest, outcome) = stored;
        var loaded = new SmearJob(manifest)
        {
            State = outcome?.State ?? SmearJobState.Failed,
            Error = outcome is null ? InterruptedReason : outcome.Error,
            Result = outcome is { Labels.Count: > 0 } ? new SmearBatch(manifest.Model, outcome.Labels, outcome.RejectThreshold, outcome.Images) : null,
            Seconds = outcome?.Seconds ?? 0,
            CanRunAgain = true,
            Corrections = store.Corrections(id),
        };
        if (loaded.State == SmearJobState.Running) (loaded.State, loaded.Error) = (SmearJobState.Failed, InterruptedReason);
        loaded.done = loaded.Result?.Images.Count ?? 0;
        return jobs.GetOrAdd(id, loaded);
    }

    [Demands(PortalAction.Classify)]
    public async Task<SmearJob> StartAsync(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IReadOnlyList<SkippedFile> skipped, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        if (inputs.Count == 0) throw new ArgumentException("No smear image to read.");
        if (inputs.Count > options.MaxImagesPerBatch) throw new ArgumentException($"{inputs.Count:N0} smears; a batch takes at most {options.MaxImagesPerBatch:N0}.");
        var manifest = new SmearBatchManifest(Guid.NewGuid().ToString("N")[..12], model, inputs.Select(i => i.File).ToList(), skipped, clock.GetUtcNow());
        var job = new SmearJob(manifest) { Inputs = inputs, CanRunAgain = store.Enabled };
        try
        {
            await store.SaveNewAsync(manifest, inputs, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new IOException($"The batch could not be stored in the data folder ({ex.Message}); nothing was read.", ex);
        }
        jobs[job.Id] = job;
        Trim();
        _ = Task.Run(() => RunAsync(job));
        return job;
    }

    [Demands(PortalAction.Classify)]
    public async Task<SmearJob> RunAgainAsync(string id, ModelChoice? model = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        var previous = Get(id) ?? throw new ArgumentException("That batch is no longer held.");
        var inputs = previous.Inputs ?? store.Inputs(id) ?? throw new ArgumentException("That batch's images are no longer stored: choose the images again.");
        return await StartAsync(model ?? previous.Model, inputs, previous.Skipped, cancellationToken);
    }

    public byte[]? ImageBytes(string id, int index)
    {
        if (Get(id) is not { } job || index < 0 || index >= job.Total) return null;
        return job.Inputs is { } inputs ? inputs[index].Bytes : store.ImageBytes(id, index);
    }

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
        job.Corrections = list;
        changes.Notify(job.Id);
    }

    private async Task RunAsync(SmearJob job)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        long lastNotified = 0;
        var progress = new Progress<int>(n =>
        {
            Volatile.Write(ref job.done, Math.Max(job.done, n));
            // At most four page updates a second while a long batch runs; the last one always.
            long now = watch.ElapsedMilliseconds;
            if (now - Interlocked.Read(ref lastNotified) < 250 && n < job.Total) return;
            Interlocked.Exchange(ref lastNotified, now);
            changes.Notify(job.Id);
        });
        try
        {
            job.Result = await smears.AnalyzeAsync(job.Model, job.Inputs!, progress, CancellationToken.None);
            Volatile.Write(ref job.done, job.Total);
            job.State = SmearJobState.Finished;
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Smear batch {Job} failed", job.Id);
            job.Error = UserFacingError.Describe(ex);
            job.State = SmearJobState.Failed;
        }
        job.Seconds = watch.Elapsed.TotalSeconds;
        try
        {
            var r = job.Result;
            await store.SaveOutcomeAsync(job.Id, new SmearBatchOutcome(job.State, job.Error, job.Seconds, r?.Labels ?? [], r?.RejectThreshold ?? 0, r?.Images ?? []), CancellationToken.None);
            if (store.Enabled) job.Inputs = null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Smear batch {Job}: its answers could not be stored", job.Id);
        }
        changes.Notify(job.Id);
    }

    private void Trim()
    {
        var running = jobs.Values.Where(j => j.State == SmearJobState.Running).Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        // A batch a reviewer corrected is a record of their work: it is never trimmed with the others.
        if (store.Enabled) running.UnionWith(store.List().Select(b => b.Id).Where(id => store.Corrections(id).Count > 0));
        foreach (var old in jobs.Values.Where(j => j.State != SmearJobState.Running).OrderByDescending(j => j.StartedAt).Skip(options.KeptBatches).ToList())
            jobs.TryRemove(old.Id, out _);
        try
        {
            store.Trim(options.KeptBatches, running);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Old smear batches could not be deleted");
        }
    }
}
