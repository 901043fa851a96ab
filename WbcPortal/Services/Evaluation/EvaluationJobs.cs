using WbcPortal.Services.Accounts;
using System.Collections.Concurrent;
using System.Threading.Channels;

namespace WbcPortal.Services.Evaluation;

public enum EvaluationJobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// <summary>An evaluation of a run's model started from the dashboard, as the page sees it. Mutated only by <see cref="EvaluationJobs"/>.</summary>
public sealed class EvaluationJob
{
    public required Guid Id { get; init; }
    public required int RunId { get; init; }
    /// <summary>What is evaluated, as the stored evaluation's source will read ("split NAME / test", "folder PATH").</summary>
    public required string Description { get; init; }
    public DateTimeOffset QueuedAt { get; init; }
    public EvaluationJobState State { get; internal set; }
    public int Done { get; internal set; }
    public int Total { get; internal set; }
    public string? Error { get; internal set; }
    public int? EvaluationId { get; internal set; }
    /// <summary>Folder files that were not JPEG/PNG or did not decode, with why; the others were evaluated.</summary>
    public IReadOnlyList<(string File, string Reason)> Skipped { get; internal set; } = [];
    public DateTimeOffset? FinishedAt { get; internal set; }
    public bool Finished => State is EvaluationJobState.Succeeded or EvaluationJobState.Failed;
    public double Fraction => Total == 0 ? 0 : (double)Done / Total;
}

/// <summary>
/// Runs the dashboard's "Evaluate on…" requests off the circuit, one at a time (inference uses every core), and
/// remembers them per run in memory so a refreshed page finds its job, its progress and its error. The evaluation
/// itself is <see cref="EvaluationService"/>, the same code as the CLI's <c>evaluate</c>.
/// </summary>
public sealed class EvaluationJobs(EvaluationService evaluations, Storage.ServerFolders serverFolders, EvaluationZipUnpacker unpacker,
    ILogger<EvaluationJobs> logger, TimeProvider clock, Accounts.AccessControl access, Accounts.ActorContext actors) : BackgroundService
{
    private const int KeptPerRun = 10;

    private readonly Channel<(EvaluationJob Job, EvaluationTarget Target, Accounts.Actor Actor)> queue = Channel.CreateUnbounded<(EvaluationJob, EvaluationTarget, Accounts.Actor)>();
    private readonly ConcurrentDictionary<Guid, EvaluationJob> jobs = new();
    private readonly ChangeNotifier<EvaluationJob> changes = new(logger);

    /// <summary>The run's recent jobs, newest first.</summary>
    public IReadOnlyList<EvaluationJob> ForRun(int runId) =>
        jobs.Values.Where(j => j.RunId == runId).OrderByDescending(j => j.QueuedAt).ToList();

    /// <summary>Calls <paramref name="onChange"/> (from a background thread) whenever a job changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<EvaluationJob> onChange) => changes.Subscribe(onChange);

    /// <summary>
    /// Queues an evaluation. Input that is wrong on its face (no folder there, an unknown part, the same source
    /// already queued) is refused here with an <see cref="ArgumentException"/>; what needs the model or the images
    /// (class folders the model does not know, unreadable files) fails the job with its reason. An uploaded zip's staging
    /// lease is handed over to the job once it is queued (refused, nothing queued, when it was released before) and the job
    /// releases it when it ends, however it ends; a refused start leaves it with the caller.
    /// </summary>
    [Demands(PortalAction.Evaluate)]
    public EvaluationJob Start(int runId, EvaluationTarget target)
    {
        var actor = access.Demand(PortalAction.Evaluate);
        // A page reads server folders under the configured root only, never an arbitrary server path.
        if (target is EvaluationTarget.Folder folder) serverFolders.Resolve(serverFolders.Relative(Path.GetFullPath(folder.Path.Trim())));
        string description = Describe(target);
        if (jobs.Values.Any(j => j.RunId == runId && !j.Finished && j.Description == description))
        {
            throw new ArgumentException($"{description} is already being evaluated.");
        }
        (target as EvaluationTarget.UploadedZip)?.Lease.HandOverToJob();
        var job = new EvaluationJob { Id = Guid.NewGuid(), RunId = runId, Description = description, QueuedAt = clock.GetUtcNow(), State = EvaluationJobState.Queued };
        jobs[job.Id] = job;
        Prune(runId);
        if (!queue.Writer.TryWrite((job, target, actor)))
        {
            jobs.TryRemove(job.Id, out _);
            (target as EvaluationTarget.UploadedZip)?.Lease.Dispose();
            throw new InvalidOperationException("The evaluation queue is closed.");
        }
        changes.Notify(job);
        return job;
    }

    /// <summary>Checks what can be checked without the model, and names the source as the stored evaluation will.</summary>
    public static string Describe(EvaluationTarget target)
    {
        switch (target)
        {
            case EvaluationTarget.SplitPart sp:
                if (string.IsNullOrWhiteSpace(sp.Split)) throw new ArgumentException("Choose a split.");
                if (sp.Part is not ("train" or "val" or "test")) throw new ArgumentException($"Unknown part '{sp.Part}'; use train, val or test.");
                return $"split {sp.Split} / {sp.Part}";
            case EvaluationTarget.Folder f:
                if (string.IsNullOrWhiteSpace(f.Path)) throw new ArgumentException("Type the path of a folder of class folders on the server.");
                if (!Path.IsPathFullyQualified(f.Path.Trim())) throw new ArgumentException($"'{f.Path}' is not a full path: give the folder's full path on the server (for example /data/cells).");
                if (!Directory.Exists(f.Path.Trim())) throw new ArgumentException($"There is no folder {f.Path.Trim()} on the server.");
                return f.Source ?? $"folder {Path.GetFullPath(f.Path.Trim())}";
            case EvaluationTarget.UploadedZip z:
                if (!File.Exists(z.ZipPath)) throw new ArgumentException("The uploaded zip is gone; upload it again.");
                return $"zip {z.Name}";
            default:
                throw new ArgumentOutOfRangeException(nameof(target));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (job, target, actor) in queue.Reader.ReadAllAsync(stoppingToken))
        {
            job.State = EvaluationJobState.Running;
            changes.Notify(job);
            long lastNotified = 0;
            var progress = new InlineProgress(p =>
            {
                job.Done = p.Done;
                job.Total = p.Total;
                long now = Environment.TickCount64;
                if (now - Interlocked.Read(ref lastNotified) > 250 || p.Done >= p.Total)
                {
                    Interlocked.Exchange(ref lastNotified, now);
                    changes.Notify(job);
                }
            });
            EvaluationJobState ended;
            try
            {
                IReadOnlyList<(string File, string Reason)> unpackedSkipped = [];
                var normalised = target switch
                {
                    EvaluationTarget.Folder f => new EvaluationTarget.Folder(f.Path.Trim(), f.Source),
                    EvaluationTarget.UploadedZip z => Unpack(z, out unpackedSkipped, stoppingToken),
                    _ => target,
                };
                EvaluationResult result;
                // As the one who asked: the service checks their role again and the audit names them.
                using (actors.Use(actor)) result = await Task.Run(() => evaluations.EvaluateAsync(job.RunId, normalised, progress, stoppingToken), stoppingToken);
                job.EvaluationId = result.EvaluationId;
                job.Skipped = [.. unpackedSkipped, .. result.Rejected];
                ended = EvaluationJobState.Succeeded;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                job.Error = "The portal stopped before the evaluation finished.";
                ended = EvaluationJobState.Failed;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Evaluating run {Run} on {Source} failed", job.RunId, job.Description);
                job.Error = WithoutServerPaths(UserFacingError.Describe(ex), target);
                ended = EvaluationJobState.Failed;
            }
            finally
            {
                // The uploaded zip and its unpacked copy go back whatever happened to the job.
                if (target is EvaluationTarget.UploadedZip uploaded) uploaded.Lease.Dispose();
            }
            // Finished only once cleaned up: a job seen as ended has given its uploaded zip back.
            job.State = ended;
            job.FinishedAt = clock.GetUtcNow();
            changes.Notify(job);
        }
    }

    /// <summary>Unpacks an uploaded zip of class folders beside it, under the import's checks (see <see cref="EvaluationZipUnpacker"/>).</summary>
    private EvaluationTarget.Folder Unpack(EvaluationTarget.UploadedZip zip, out IReadOnlyList<(string File, string Reason)> skipped, CancellationToken cancellationToken)
    {
        string root = Path.Combine(zip.StagingFolder, "unpacked");
        skipped = unpacker.Unpack(zip.Name, zip.ZipPath, root, cancellationToken);
        return new EvaluationTarget.Folder(root, $"zip {zip.Name}");
    }

    /// <summary>A failed upload's reason names the zip, never where the server staged it.</summary>
    private static string WithoutServerPaths(string message, EvaluationTarget target) => target is EvaluationTarget.UploadedZip z
        ? message.Replace(Path.Combine(z.StagingFolder, "unpacked"), $"zip {z.Name}", StringComparison.Ordinal)
            .Replace(z.ZipPath, $"zip {z.Name}", StringComparison.Ordinal).Replace(z.StagingFolder, $"zip {z.Name}", StringComparison.Ordinal)
        : message;

    private void Prune(int runId)
    {
        foreach (var old in ForRun(runId).Where(j => j.Finished).Skip(KeptPerRun)) jobs.TryRemove(old.Id, out _);
    }

    /// <summary>Reports synchronously on the worker thread (Progress&lt;T&gt; would post and reorder).</summary>
    private sealed class InlineProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
