using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Options;

namespace WbcPortal.Services.Classify;

/// <summary>Where a Classify batch is.</summary>
public enum ClassifyJobState { Running, Finished, Failed }

/// <summary>A batch classified in the background: its images (kept for thumbnails and the CSV), progress and answers.</summary>
public sealed class ClassifyJob
{
    internal ClassifyJob(string id, ModelChoice model, IReadOnlyList<PredictionInput> inputs, IReadOnlyList<(string File, string Reason)> skipped, DateTimeOffset started)
    {
        Id = id;
        Model = model;
        Inputs = inputs;
        Skipped = skipped;
        StartedAt = started;
    }

    public string Id { get; }
    public ModelChoice Model { get; }
    public IReadOnlyList<PredictionInput> Inputs { get; }
    /// <summary>Files refused before classifying (not an image, in a zip too deep, ...), with the reason.</summary>
    public IReadOnlyList<(string File, string Reason)> Skipped { get; }
    public DateTimeOffset StartedAt { get; }
    public int Total => Inputs.Count;
    public int Done => Volatile.Read(ref done);
    public ClassifyJobState State { get; internal set; }
    public string? Error { get; internal set; }
    public PredictionBatch? Result { get; internal set; }
    public double Seconds { get; internal set; }
    internal int done;
}

/// <summary>
/// Classify batches run in the background, never on a page's circuit: a page starts one, puts its id in the address
/// and follows it, so a refresh finds it again (while this process runs). Finished batches are kept up to
/// <see cref="InferenceOptions.KeptBatches"/>, the oldest dropped first.
/// </summary>
public sealed class ClassifyJobs(PredictionService predictions, InferenceOptions options, TimeProvider clock, ILogger<ClassifyJobs> logger)
{
    private readonly ConcurrentDictionary<string, ClassifyJob> jobs = new(StringComparer.Ordinal);
    private readonly ChangeNotifier<string> changes = new(logger);

    public IDisposable Subscribe(Action<string> onChange) => changes.Subscribe(onChange);

    public ClassifyJob? Get(string id) => jobs.GetValueOrDefault(id);

    /// <summary>Starts classifying <paramref name="inputs"/> with <paramref name="model"/>; returns at once.</summary>
    public ClassifyJob Start(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IReadOnlyList<(string File, string Reason)> skipped)
    {
        if (inputs.Count == 0) throw new ArgumentException("No image to classify.");
        if (inputs.Count > options.MaxImagesPerBatch) throw new ArgumentException($"{inputs.Count:N0} images; a batch takes at most {options.MaxImagesPerBatch:N0}.");
        var job = new ClassifyJob(Guid.NewGuid().ToString("N")[..12], model, inputs, skipped, clock.GetUtcNow());
        jobs[job.Id] = job;
        Trim();
        _ = Task.Run(() => RunAsync(job));
        return job;
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
            job.Result = await predictions.PredictAsync(job.Model, job.Inputs, progress, CancellationToken.None);
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
        changes.Notify(job.Id);
    }

    private void Trim()
    {
        foreach (var old in jobs.Values.Where(j => j.State != ClassifyJobState.Running).OrderByDescending(j => j.StartedAt).Skip(options.KeptBatches).ToList())
            jobs.TryRemove(old.Id, out _);
    }

    /// <summary>The batch as CSV: one row per image (file, answer, confidence, guess when unidentified, every class's probability, error).</summary>
    public static string Csv(ClassifyJob job)
    {
        var batch = job.Result ?? throw new InvalidOperationException("The batch has no answers yet.");
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
        foreach (var (file, reason) in job.Skipped) Row(new[] { file, "", "", "" }.Concat(batch.Labels.Select(_ => "")).Append(reason));
        return csv.ToString();
    }
}
