using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Services.Accounts;

namespace WbcPortal.Services.Evaluation;

/// <summary>An evaluation of a run's model on a split part, a server folder or an uploaded zip (its staged copy is the job's input).</summary>
/// <param name="What">What is evaluated, as the stored evaluation's source will read ("split NAME / test", "folder PATH", "zip NAME").</param>
public sealed record EvaluateJob(int RunId, string What, string? Split = null, string? Part = null, string? Folder = null, string? Source = null,
    string? ZipName = null, string? ZipPath = null) : Jobs.JobRequest
{
    public override Jobs.JobKind Kind => Jobs.JobKind.Evaluation;
    public override string Subject => SubjectOf(RunId);
    public override string Description => What;
    public override string CancelledNote => "nothing was stored; the run's earlier figures are unchanged";

    /// <inheritdoc cref="Jobs.JobRequest.Subject"/>
    public static string SubjectOf(int runId) => $"run {runId.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>What a finished evaluation tells its card: the stored evaluation and the files it skipped.</summary>
public sealed record EvaluationDone(int EvaluationId, IReadOnlyList<Classify.SkippedFile> Skipped);

/// <summary>
/// The dashboard's "Evaluate on…": checks what can be checked at once (a folder under the server root, a known part, the
/// same source not already queued), then queues an <see cref="EvaluateJob"/> on the portal's job system, where a refreshed
/// page (or another node's) finds it with its progress and its reason. The evaluation itself is <see cref="EvaluationService"/>,
/// the same code as the CLI's <c>evaluate</c>.
/// </summary>
public sealed class EvaluationJobs(Jobs.PortalJobs jobs, Storage.ServerFolders serverFolders, Accounts.AccessControl access)
{
    /// <summary>The run's recent evaluation jobs, newest first.</summary>
    public IReadOnlyList<Jobs.JobView> ForRun(int runId) => jobs.Recent(Jobs.JobKind.Evaluation, EvaluateJob.SubjectOf(runId));

    /// <summary>
    /// Queues an evaluation. Input that is wrong on its face (no folder there, an unknown part, the same source
    /// already queued) is refused here with an <see cref="ArgumentException"/>; what needs the model or the images
    /// (class folders the model does not know, unreadable files) fails the job with its reason. An uploaded zip's staging
    /// lease is handed over to the job once it is queued (refused, nothing queued, when it was released before) and the job
    /// releases it when it ends, however it ends; a refused start leaves it with the caller.
    /// </summary>
    [Demands(PortalAction.Evaluate)]
    public async Task<Jobs.JobView> StartAsync(int runId, EvaluationTarget target, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Evaluate);
        // A page reads server folders under the configured root only, never an arbitrary server path.
        if (target is EvaluationTarget.Folder folder) serverFolders.Resolve(serverFolders.Relative(Path.GetFullPath(folder.Path.Trim())));
        string description = Describe(target);
        if (ForRun(runId).Any(j => !j.Finished && j.Description == description))
        {
            throw new ArgumentException($"{description} is already being evaluated.");
        }
        var request = target switch
        {
            EvaluationTarget.SplitPart sp => new EvaluateJob(runId, description, Split: sp.Split, Part: sp.Part.Name()),
            EvaluationTarget.Folder f => new EvaluateJob(runId, description, Folder: Path.GetFullPath(f.Path.Trim()), Source: f.Source?.ToString()),
            EvaluationTarget.UploadedZip z => new EvaluateJob(runId, description, ZipName: z.Name, ZipPath: z.ZipPath),
            _ => throw new ArgumentOutOfRangeException(nameof(target)),
        };
        return await jobs.EnqueueAsync(request, (target as EvaluationTarget.UploadedZip)?.Lease, cancellationToken);
    }

    /// <summary>Checks what can be checked without the model, and names the source as the stored evaluation will.</summary>
    public static string Describe(EvaluationTarget target)
    {
        switch (target)
        {
            case EvaluationTarget.SplitPart sp:
                if (string.IsNullOrWhiteSpace(sp.Split)) throw new ArgumentException("Choose a split.");
                return EvaluationSource.Split(sp.Split, sp.Part).ToString();
            case EvaluationTarget.Folder f:
                if (string.IsNullOrWhiteSpace(f.Path)) throw new ArgumentException("Type the path of a folder of class folders on the server.");
                if (!Path.IsPathFullyQualified(f.Path.Trim())) throw new ArgumentException($"'{f.Path}' is not a full path: give the folder's full path on the server (for example /data/cells).");
                if (!Directory.Exists(f.Path.Trim())) throw new ArgumentException($"There is no folder {f.Path.Trim()} on the server.");
                return (f.Source ?? EvaluationSource.Folder(Path.GetFullPath(f.Path.Trim()))).ToString();
            case EvaluationTarget.UploadedZip z:
                if (!File.Exists(z.ZipPath)) throw new ArgumentException("The uploaded zip is gone; upload it again.");
                return EvaluationSource.Zip(z.Name).ToString();
            default:
                throw new ArgumentOutOfRangeException(nameof(target));
        }
    }
}

/// <summary>Runs an <see cref="EvaluateJob"/>: an uploaded zip is unpacked beside it under the import's checks, then evaluated.</summary>
internal sealed class EvaluateJobHandler(EvaluationService evaluations, EvaluationZipUnpacker unpacker, ILogger<EvaluateJobHandler> logger)
    : Jobs.JobHandler<EvaluateJob, EvaluationDone>
{
    protected override async Task<EvaluationDone> RunAsync(EvaluateJob job, Jobs.JobContext context)
    {
        var ct = context.CancellationToken;
        var progress = new Jobs.InlineProgress<(int Done, int Total)>(p =>
            context.Progress.Report(new Jobs.JobProgress(p.Total == 0 ? 0 : (double)p.Done / p.Total, p.Total == 0 ? "reading the images…" : $"{p.Done:N0} of {p.Total:N0} images")));
        try
        {
            IReadOnlyList<(string File, string Reason)> unpackedSkipped = [];
            EvaluationTarget target;
            if (job.ZipPath is { } zip)
            {
                string root = Path.Combine(Path.GetDirectoryName(zip)!, "unpacked");
                unpackedSkipped = unpacker.Unpack(job.ZipName ?? "upload.zip", zip, root, ct);
                target = new EvaluationTarget.Folder(root, EvaluationSource.Zip(job.ZipName ?? "upload.zip"));
            }
            else if (job.Folder is { } folder) target = new EvaluationTarget.Folder(folder, EvaluationSource.TryParse(job.Source, out var source) ? source : null);
            else target = EvaluationTarget.OfSplit(job.Split ?? "", job.Part ?? "");
            var result = await Task.Run(() => evaluations.EvaluateAsync(job.RunId, target, progress, ct), ct);
            return new EvaluationDone(result.EvaluationId, [.. unpackedSkipped.Concat(result.Rejected).Select(s => new Classify.SkippedFile(s.File, s.Reason))]);
        }
        catch (Exception ex) when (job.ZipPath is not null && ex is not OperationCanceledException)
        {
            // A failed upload's reason names the zip, never where the server staged it.
            logger.LogWarning(ex, "Evaluating run {Run} on {Source} failed", job.RunId, job.Description);
            string staged = Path.GetDirectoryName(job.ZipPath)!;
            string message = UserFacingError.Describe(ex).Replace(Path.Combine(staged, "unpacked"), job.Description, StringComparison.Ordinal)
                .Replace(job.ZipPath, job.Description, StringComparison.Ordinal).Replace(staged, job.Description, StringComparison.Ordinal);
            throw new InvalidDataException(message);
        }
    }
}
