using WbcPortal.Services.Accounts;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Options;

namespace WbcPortal.Services.Classify;

/// <summary>Where a Classify batch is.</summary>
public enum ClassifyJobState { Running, Finished, Failed }

/// <summary>A Classify batch: its files, progress and answers. Its images are held in memory only while it runs; after that they are read from <see cref="ClassifyBatchStore"/>.</summary>
public sealed class ClassifyJob
{
    internal ClassifyJob(string id, ModelChoice model, IReadOnlyList<string> files, IReadOnlyList<SkippedFile> skipped, DateTimeOffset started)
    {
        Id = id;
        Model = model;
        Files = files;
        Skipped = skipped;
        StartedAt = started;
    }

    public string Id { get; }
    public ModelChoice Model { get; }
    /// <summary>The images' names as uploaded, in input order.</summary>
    public IReadOnlyList<string> Files { get; }
    /// <summary>Files refused before classifying (not an image, in a zip too deep, ...), with the reason.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }
    public DateTimeOffset StartedAt { get; }
    public int Total => Files.Count;
    public int Done => Volatile.Read(ref done);
    public ClassifyJobState State { get; internal set; }
    public string? Error { get; internal set; }
    public PredictionBatch? Result { get; internal set; }
    public double Seconds { get; internal set; }
    /// <summary>Whether its images are stored, so it can be classified again (after a failure, or with another model).</summary>
    public bool CanRunAgain { get; internal set; }
    internal IReadOnlyList<PredictionInput>? Inputs { get; set; }
    internal int done;
}

/// <summary>
/// Classify batches run in the background, never on a page's circuit: a page starts one, puts its id in the address
/// and follows it. Each batch is stored (<see cref="ClassifyBatchStore"/>) before it runs and its answers when it ends, so
/// a refresh or a restart finds it again; a batch a restart cut short says so and can be run again from its stored
/// images. The newest <see cref="InferenceOptions.KeptBatches"/> are kept, the oldest deleted first.
/// </summary>
public sealed class ClassifyJobs(PredictionService predictions, ClassifyBatchStore store, InferenceOptions options, TimeProvider clock, ILogger<ClassifyJobs> logger, Accounts.AccessControl access)
{
    /// <summary>The reason shown for a batch that was classifying when the portal stopped.</summary>
    public const string InterruptedReason = "the portal stopped before this batch finished";

    private readonly ConcurrentDictionary<string, ClassifyJob> jobs = new(StringComparer.Ordinal);
    private readonly ChangeNotifier<string> changes = new(logger);

    public IDisposable Subscribe(Action<string> onChange) => changes.Subscribe(onChange);

    /// <summary>A batch of this process, else a stored one (answers, or why it has none), else null.</summary>
    public ClassifyJob? Get(string id)
    {
        if (jobs.TryGetValue(id, out var job)) return job;
        if (store.Load(id) is not { } stored) return null;
        var (manifest, outcome) = stored;
        var loaded = new ClassifyJob(manifest.Id, manifest.Model, manifest.Files, manifest.Skipped, manifest.StartedAt)
        {
            State = outcome?.State ?? ClassifyJobState.Failed,
            Error = outcome is null ? InterruptedReason : outcome.Error,
            Result = outcome?.Result,
            Seconds = outcome?.Seconds ?? 0,
            CanRunAgain = true,
        };
        if (loaded.State == ClassifyJobState.Running) (loaded.State, loaded.Error) = (ClassifyJobState.Failed, InterruptedReason);
        loaded.done = loaded.Result?.Outcomes.Count ?? 0;
        return jobs.GetOrAdd(id, loaded);
    }

    /// <summary>Starts classifying <paramref name="inputs"/> with <paramref name="model"/>: stores the images, then returns while they are classified.</summary>
    [Demands(PortalAction.Classify)]
    public async Task<ClassifyJob> StartAsync(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IReadOnlyList<SkippedFile> skipped, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        if (inputs.Count == 0) throw new ArgumentException("No image to classify.");
        if (inputs.Count > options.MaxImagesPerBatch) throw new ArgumentException($"{inputs.Count:N0} images; a batch takes at most {options.MaxImagesPerBatch:N0}.");
        string id = Guid.NewGuid().ToString("N")[..12];
        var files = inputs.Select(i => i.File).ToList();
        var job = new ClassifyJob(id, model, files, skipped, clock.GetUtcNow()) { Inputs = inputs, CanRunAgain = store.Enabled };
        try
        {
            await store.SaveNewAsync(new ClassifyBatchManifest(id, model, files, skipped, job.StartedAt), inputs, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new IOException($"The batch could not be stored in the data folder ({ex.Message}); nothing was classified.", ex);
        }
        jobs[job.Id] = job;
        Trim();
        _ = Task.Run(() => RunAsync(job));
        return job;
    }

    /// <summary>Classifies a stored batch's images again, with its own model or another; a new batch.</summary>
    [Demands(PortalAction.Classify)]
    public async Task<ClassifyJob> RunAgainAsync(string id, ModelChoice? model = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Classify);
        var previous = Get(id) ?? throw new ArgumentException("That batch is no longer held.");
        var inputs = previous.Inputs ?? store.Inputs(id) ?? throw new ArgumentException("That batch's images are no longer stored: choose the images again.");
        return await StartAsync(model ?? previous.Model, inputs, previous.Skipped, cancellationToken);
    }

    /// <summary>The uploaded bytes of image <paramref name="index"/> of a batch, or null.</summary>
    public byte[]? ImageBytes(string id, int index)
    {
        if (Get(id) is not { } job || index < 0 || index >= job.Total) return null;
        return job.Inputs is { } inputs ? inputs[index].Bytes : store.ImageBytes(id, index);
    }

    private async Task RunAsync(ClassifyJob job)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        long lastNotified = 0;
        var progress = new Progress<int>(n =>
        {
            Volatile.Write(ref job.done, Math.Max(job.done, n));
            long now = watch.ElapsedMilliseconds;
            if (now - Interlocked.Read(ref lastNotified) < 250 && n < job.Total) return;
            Interlocked.Exchange(ref lastNotified, now);
            changes.Notify(job.Id);
        });
        try
        {
            job.Result = await predictions.PredictAsync(job.Model, job.Inputs!, progress, CancellationToken.None);
            Volatile.Write(ref job.done, job.Total);
            job.State = ClassifyJobState.Finished;
        }
        catch (Exception ex)
        {
            // Every failure ends the batch in a state the page shows, with its reason.
            logger.LogWarning(ex, "Classify batch {Job} failed", job.Id);
            job.Error = UserFacingError.Describe(ex);
            job.State = ClassifyJobState.Failed;
        }
        job.Seconds = watch.Elapsed.TotalSeconds;
        try
        {
            await store.SaveOutcomeAsync(job.Id, new ClassifyBatchOutcome(job.State, job.Error, job.Seconds, job.Result), CancellationToken.None);
            if (store.Enabled) job.Inputs = null; // read from disk from now on
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The answers stay shown while this process runs; after a restart the batch reads as cut short.
            logger.LogWarning(ex, "Classify batch {Job}: its answers could not be stored", job.Id);
        }
        changes.Notify(job.Id);
    }

    private void Trim()
    {
        var running = jobs.Values.Where(j => j.State == ClassifyJobState.Running).Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var old in jobs.Values.Where(j => j.State != ClassifyJobState.Running).OrderByDescending(j => j.StartedAt).Skip(options.KeptBatches).ToList())
            jobs.TryRemove(old.Id, out _);
        try
        {
            store.Trim(options.KeptBatches, running);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Old Classify batches could not be deleted");
        }
    }

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
