using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Datasets;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Jobs;

/// <summary>
/// The portal's background jobs: queue one (stored, then handed to Hangfire, so it survives a restart and any worker node
/// can take it), list and cancel them, and hear when one changes. Pages and the CLI never name a job by a string: they
/// pass a typed <see cref="JobRequest"/>. The board of recent jobs is kept in memory from the database and refreshed
/// from it (<see cref="JobsOptions.PollMilliseconds"/>), so a job run by another node shows as it goes. On a read-only
/// portal the same board runs the kinds that write nothing (<see cref="JobRequest.RunsOnReadOnlyPortal"/>) in this process,
/// their records in memory only (<see cref="JobDatabase"/>, <see cref="JobDispatch"/>).
/// </summary>
public sealed class PortalJobs(
    JobDatabase contexts,
    JobDispatch dispatch,
    IEnumerable<IJobHandler> handlers,
    UploadStaging staging,
    ActorContext actors,
    TimeProvider clock,
    Microsoft.Extensions.Options.IOptions<JobsOptions> options,
    Options.StorageOptions storage,
    ILogger<PortalJobs> logger) : BackgroundService
{
    /// <summary>How many recent jobs the board holds.</summary>
    public const int BoardSize = 100;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // The last handler registered for a kind wins, as DI resolves one service (a test may put its own work in place of a kind's).
    private readonly Dictionary<JobKind, IJobHandler> byKind = handlers.GroupBy(h => h.Kind).ToDictionary(g => g.Key, g => g.Last());
    private readonly ConcurrentDictionary<Guid, JobView> board = new();
    private readonly ConcurrentDictionary<Guid, StagingLease> inputs = new();
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> runningHere = new();
    private readonly ChangeNotifier<JobView> changes = new(logger);
    private readonly TaskCompletionSource loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DateTimeOffset lastSeen = DateTimeOffset.MinValue;

    /// <summary>The newest jobs first (at most 20), of one kind and/or one subject.</summary>
    public IReadOnlyList<JobView> Recent(JobKind? kind = null, string? subject = null) =>
        board.Values.Where(j => (kind is null || j.Kind == kind) && (subject is null || j.Subject == subject))
            .OrderByDescending(j => j.QueuedAt).Take(20).ToList();

    /// <summary>True while a queued or running job is of this kind on this subject (e.g. an import into a dataset).</summary>
    public bool IsBusy(JobKind kind, string subject) =>
        board.Values.Any(j => j.Kind == kind && string.Equals(j.Subject, subject, StringComparison.Ordinal) && !j.Finished);

    public JobView? Find(Guid id) => board.GetValueOrDefault(id);

    /// <summary>Calls <paramref name="onChange"/> (from a background thread) whenever a job changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<JobView> onChange) => changes.Subscribe(onChange);

    /// <summary>
    /// Stores the job and queues it. It runs as the one who queued it (their role is checked again by the services, and
    /// the audit names them).
    /// </summary>
    /// <param name="input">
    /// The staged upload the job reads: handed over to the job here (its upload's owner no longer releases it) and released
    /// when the job ends, however it ends. Refused with <see cref="StagingReleasedException"/>, nothing queued, when it was
    /// released before (a closed circuit, an idle upload swept).
    /// </param>
    public async Task<JobView> EnqueueAsync(JobRequest request, StagingLease? input = null, CancellationToken cancellationToken = default)
    {
        if (!byKind.ContainsKey(request.Kind)) throw new InvalidOperationException($"No handler is registered for {request.Kind} jobs.");
        if (storage.ReadOnly && !request.RunsOnReadOnlyPortal)
        {
            throw new InvalidOperationException(storage.ReadOnlyRefusal("it queues no job that writes; the process that holds the data folder does the work"));
        }
        input?.HandOverToJob();
        var now = clock.GetUtcNow();
        var record = new JobRecord
        {
            Id = Guid.NewGuid(),
            Kind = request.Kind,
            Subject = request.Subject,
            Description = request.Description,
            CancelledNote = request.CancelledNote,
            State = JobState.Queued,
            RequestJson = JsonSerializer.Serialize(request, request.GetType(), Json),
            InputFolder = input?.Folder,
            ActorJson = JsonSerializer.Serialize(actors.Current, Json),
            QueuedAt = now,
            UpdatedAt = now,
        };
        try
        {
            await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
            {
                db.Jobs.Add(record);
                await db.SaveChangesAsync(CancellationToken.None);
            }
            if (input is not null) inputs[record.Id] = input;
            Publish(ToView(record, result: null, request));
            Schedule(record.Id, request.Kind, request.Description, request.Subject);
        }
        catch
        {
            input?.Dispose();
            inputs.TryRemove(record.Id, out _);
            await ForgetAsync(record.Id, "it could not be queued");
            throw;
        }
        return board[record.Id];
    }

    /// <summary>
    /// Cancels a queued job (it never starts) or a running one, wherever it runs (it stops at its next cancellation
    /// check; its clean-up still runs). False when the job is unknown or already finished.
    /// </summary>
    public async Task<bool> CancelAsync(Guid jobId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = clock.GetUtcNow();
        // Queued: cancelled at once; the runner's claim (Queued → Running) then finds nothing to do.
        if (await db.Jobs.Where(j => j.Id == jobId && j.State == JobState.Queued).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, JobState.Cancelled).SetProperty(j => j.CancelRequested, true)
                .SetProperty(j => j.FinishedAt, now).SetProperty(j => j.UpdatedAt, now), CancellationToken.None) > 0)
        {
            ReleaseInput(jobId, null);
            await RefreshAsync(jobId);
            return true;
        }
        if (await db.Jobs.Where(j => j.Id == jobId && j.State == JobState.Running && !j.CancelRequested).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.CancelRequested, true).SetProperty(j => j.UpdatedAt, now), CancellationToken.None) == 0) return false;
        if (runningHere.TryGetValue(jobId, out var cts)) cts.Cancel();
        await RefreshAsync(jobId);
        return true;
    }

    /// <summary>Loads the board, takes back the staged inputs of queued jobs, and marks jobs whose process died; then follows the database.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RecoverAsync(stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "Loading the job board failed; it fills as jobs change");
        }
        finally
        {
            loaded.TrySetResult();
        }
        var every = TimeSpan.FromMilliseconds(Math.Max(50, options.Value.PollMilliseconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, stoppingToken);
                await PollAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The board must outlive any fault of one read: a stopped loop would leave every page's jobs frozen.
                logger.LogWarning(ex, "Reading the job board failed; trying again");
            }
        }
    }

    /// <summary>Waits until the board has been loaded from the database (pages that open at start-up).</summary>
    public Task Loaded => loaded.Task;

    /// <summary>
    /// At start-up, before the staging area's sweep: the staged uploads of queued jobs are theirs again, so a queued import
    /// survives a restart. Returns how many were taken back.
    /// </summary>
    public async Task<int> AdoptQueuedInputsAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        int adopted = 0;
        // Running ones too: another node may be running it (shared folder), or this node's take-over queues it again.
        var waiting = await db.Jobs.AsNoTracking().Where(j => (j.State == JobState.Queued || j.State == JobState.Running) && j.InputFolder != null).ToListAsync(cancellationToken);
        // A shared folder: other nodes that are gone leave their staged uploads; those of jobs still to run stay.
        staging.SweepAbandonedNodes(waiting.Select(j => Path.GetFullPath(j.InputFolder!).TrimEnd(Path.DirectorySeparatorChar)).ToHashSet(StringComparer.Ordinal));
        foreach (var queued in waiting)
        {
            if (staging.Adopt(queued.InputFolder!, queued.Description) is not { } lease) continue;
            inputs[queued.Id] = lease;
            adopted++;
        }
        return adopted;
    }

    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        if (!storage.ReadOnly) await SettleOrphansAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        foreach (var record in await db.Jobs.AsNoTracking().OrderByDescending(j => j.QueuedAt).Take(BoardSize).ToListAsync(cancellationToken))
        {
            board[record.Id] = ToView(record, ReadResult(record), ReadRequest(record));
            if (record.UpdatedAt > lastSeen) lastSeen = record.UpdatedAt;
        }
    }

    /// <summary>
    /// Jobs left Running by a process that is gone (same host: its pid is gone; another host: no heartbeat for
    /// <see cref="JobsOptions.HeartbeatTimeout"/>): with <see cref="JobsOptions.TakeOver"/>, queued again for any node to run
    /// (up to <see cref="JobsOptions.MaxAttempts"/> starts); otherwise, or after that, Failed with the reason. Each is settled
    /// by one node only (a conditional write on what was seen). Returns how many were taken over.
    /// </summary>
    public async Task<int> SettleOrphansAsync(CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = clock.GetUtcNow();
        int takenOver = 0;
        foreach (var orphan in await db.Jobs.AsNoTracking().Where(j => j.State == JobState.Running).ToListAsync(cancellationToken))
        {
            if (ProcessIdentity.Parse(orphan.Node) is { } node && node.IsAlive() && orphan.UpdatedAt > now - o.HeartbeatTimeout) continue;
            bool again = o.TakeOver && !orphan.CancelRequested && orphan.Attempts < o.MaxAttempts;
            var seen = db.Jobs.Where(j => j.Id == orphan.Id && j.State == JobState.Running && j.Node == orphan.Node && j.UpdatedAt == orphan.UpdatedAt);
            int changed = again
                ? await seen.ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.State, JobState.Queued).SetProperty(j => j.Node, (string?)null)
                    .SetProperty(j => j.ProgressText, $"queued again: the process running it stopped (start {orphan.Attempts + 1} of at most {o.MaxAttempts})")
                    .SetProperty(j => j.UpdatedAt, now), cancellationToken)
                : await seen.ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.State, orphan.CancelRequested ? JobState.Cancelled : JobState.Failed)
                    .SetProperty(j => j.Error, orphan.CancelRequested ? null
                        : o.TakeOver
                            ? $"The process running this job stopped {orphan.Attempts} times before it finished (Jobs:MaxAttempts); nothing more was done. Run it again."
                            : "The process running this job stopped before it finished; nothing more was done. Run it again.")
                    .SetProperty(j => j.FinishedAt, now).SetProperty(j => j.UpdatedAt, now), cancellationToken);
            if (changed == 0) continue;
            if (again)
            {
                Schedule(orphan.Id, orphan.Kind, orphan.Description, orphan.Subject);
                takenOver++;
                logger.LogWarning("{Kind} job {Job} was left running by a process that is gone ({Node}); queued again", orphan.Kind, orphan.Id, orphan.Node);
            }
            else
            {
                ReleaseInput(orphan.Id, orphan.InputFolder);
                logger.LogWarning("{Kind} job {Job} was left running by a process that is gone ({Node}); marked {State}", orphan.Kind, orphan.Id, orphan.Node,
                    orphan.CancelRequested ? JobState.Cancelled : JobState.Failed);
            }
            await RefreshAsync(orphan.Id);
        }
        return takenOver;
    }

    /// <summary>Hands a stored, queued job to Hangfire's queue for its kind.</summary>
    internal void Schedule(Guid jobId, JobKind kind, string description, string subject) =>
        dispatch.Dispatch(jobId, $"{JobKinds.Name(kind)}: {description} ({subject})", kind);

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // A little before the last change seen: writes of the same tick from other nodes are not missed.
        var since = lastSeen == DateTimeOffset.MinValue ? lastSeen : lastSeen - TimeSpan.FromSeconds(2);
        var changed = await db.Jobs.AsNoTracking().Where(j => j.UpdatedAt > since).OrderBy(j => j.UpdatedAt).Take(BoardSize).ToListAsync(cancellationToken);
        foreach (var record in changed)
        {
            if (record.UpdatedAt > lastSeen) lastSeen = record.UpdatedAt;
            var known = board.GetValueOrDefault(record.Id);
            // This process's own running job is published from memory, ahead of its throttled writes.
            if (runningHere.ContainsKey(record.Id)) continue;
            var view = ToView(record, known?.Result ?? ReadResult(record), known?.Request ?? ReadRequest(record));
            // A job queued here with a staged upload and run by another node: that node gave the folder back; this node
            // gives back its lease (the reserved staging space) now that the job has ended.
            if (view.Finished && inputs.TryRemove(record.Id, out var lease)) lease.Dispose();
            if (known is null || !Same(known, view)) Publish(view);
        }
        Trim();
    }

    private static bool Same(JobView a, JobView b) =>
        a.State == b.State && a.Progress == b.Progress && a.Error == b.Error && a.CancelRequested == b.CancelRequested && (a.Result is null) == (b.Result is null);

    private void Trim()
    {
        if (board.Count <= BoardSize) return;
        foreach (var old in board.Values.Where(j => j.Finished).OrderByDescending(j => j.QueuedAt).Skip(BoardSize).ToList()) board.TryRemove(old.Id, out _);
    }

    private async Task RefreshAsync(Guid jobId)
    {
        await using var db = await contexts.CreateDbContextAsync();
        var record = await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == jobId);
        if (record is not null) Publish(ToView(record, board.GetValueOrDefault(jobId)?.Result ?? ReadResult(record), board.GetValueOrDefault(jobId)?.Request ?? ReadRequest(record)));
    }

    private async Task ForgetAsync(Guid jobId, string because)
    {
        board.TryRemove(jobId, out _);
        try
        {
            await using var db = await contexts.CreateDbContextAsync();
            await db.Jobs.Where(j => j.Id == jobId).ExecuteDeleteAsync();
        }
        catch (Exception ex) when (ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException)
        {
            logger.LogWarning(ex, "Removing job {Job} ({Because}) failed", jobId, because);
        }
    }

    internal void Publish(JobView view)
    {
        board[view.Id] = view;
        changes.Notify(view);
    }

    // The runner's side: the same process's board, the handlers and the inputs.

    internal IJobHandler Handler(JobKind kind) =>
        byKind.TryGetValue(kind, out var handler) ? handler : throw new InvalidOperationException($"No handler is registered for {kind} jobs.");

    internal CancellationTokenSource Running(Guid jobId, CancellationToken stopping)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        runningHere[jobId] = cts;
        return cts;
    }

    internal void NotRunning(Guid jobId)
    {
        if (runningHere.TryRemove(jobId, out var cts)) cts.Dispose();
    }

    /// <summary>Gives the job's staged upload back, whether this process holds its lease or (another node's, or after a restart) only its folder.</summary>
    internal void ReleaseInput(Guid jobId, string? folder)
    {
        try
        {
            if (inputs.TryRemove(jobId, out var lease)) lease.Dispose();
            else if (folder is not null) staging.DeleteStaged(folder);
            // Whatever a job or an earlier failure left in the staging area goes now, except uploads still in use.
            staging.Sweep();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Giving back the staged upload of job {Job} failed", jobId);
        }
    }

    internal static JobView ToView(JobRecord r, object? result, JobRequest? request) => new()
    {
        Id = r.Id,
        Request = request,
        Kind = r.Kind,
        Subject = r.Subject,
        Description = r.Description,
        QueuedAt = r.QueuedAt,
        State = r.State,
        Progress = new JobProgress(r.ProgressFraction, r.ProgressText),
        Result = result,
        Error = r.Error,
        CancelledNote = r.CancelledNote,
        CancelRequested = r.CancelRequested,
    };

    internal JobRequest? ReadRequest(JobRecord record)
    {
        if (!byKind.TryGetValue(record.Kind, out var handler)) return null;
        try
        {
            return (JobRequest?)JsonSerializer.Deserialize(record.RequestJson, handler.RequestType, Json);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or ArgumentException)
        {
            logger.LogDebug(ex, "The stored request of job {Job} could not be read", record.Id);
            return null;
        }
    }

    private object? ReadResult(JobRecord record)
    {
        if (record.ResultJson is null || !byKind.TryGetValue(record.Kind, out var handler)) return null;
        try
        {
            return JsonSerializer.Deserialize(record.ResultJson, handler.ResultType, Json);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or ArgumentException)
        {
            logger.LogDebug(ex, "The stored result of job {Job} could not be read", record.Id);
            return null;
        }
    }
}

/// <summary>The job system's settings (section <c>Jobs</c>).</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";

    /// <summary>How often a node reads the jobs other nodes changed (ms).</summary>
    [System.ComponentModel.DataAnnotations.Range(50, 60_000)]
    public int PollMilliseconds { get; set; } = 1000;

    /// <summary>How often a running job writes its progress and reads a Cancel from another node (ms).</summary>
    [System.ComponentModel.DataAnnotations.Range(50, 60_000)]
    public int HeartbeatMilliseconds { get; set; } = 1000;

    /// <summary>How often a worker asks the job storage for queued work (ms).</summary>
    [System.ComponentModel.DataAnnotations.Range(50, 60_000)]
    public int QueuePollMilliseconds { get; set; } = 1000;

    /// <summary>How many CPU jobs (import, grouping, split, …) one node runs at once.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 64)]
    public int CpuWorkers { get; set; } = 1;

    /// <summary>How many Classify and Smears batches one node runs at once (queue <c>inference</c>).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 64)]
    public int InferenceWorkers { get; set; } = 2;

    /// <summary>The workers of a queue.</summary>
    public int WorkersOf(string queue) => queue == JobKinds.InferenceQueue ? InferenceWorkers : CpuWorkers;

    /// <summary>A running job not heard of for this long, on a process that cannot be checked, is taken as dead.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The queues this node works on: <c>gpu</c> (training runs: one at a time, on the device), <c>cpu</c> (imports, groupings, splits, evaluations, …) and <c>inference</c> (Classify and Smears batches).
    /// A web node of a scaled-out deployment lists none and leaves the work to its <c>worker</c>s; <c>worker --queues</c> overrides it.
    /// </summary>
    public string Queues { get; set; } = "gpu,cpu,inference";

    /// <summary><see cref="Queues"/> read (validated at start).</summary>
    public IReadOnlyList<string> QueueList => JobKinds.ParseQueues(Queues);

    /// <summary>
    /// Work left by a process that died (a job Running, a run Training, on a node that is gone) is taken over: queued again and
    /// run by whichever node works on its queue (a run resumes from its last checkpoint). Off: such a job ends Failed and such a
    /// run Interrupted, for a person to run again or resume.
    /// </summary>
    public bool TakeOver { get; set; }

    /// <summary>How often a node looks for work to take over (ms).</summary>
    [System.ComponentModel.DataAnnotations.Range(100, 600_000)]
    public int TakeOverCheckMilliseconds { get; set; } = 5000;

    /// <summary>How many times one job or run is started before a death of its process fails it for good (the work may be what kills it).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;
}
