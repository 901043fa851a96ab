using System.Collections.Frozen;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>What can be done to a run.</summary>
public enum RunAction
{
    /// <summary>Start executing it in this process (the job, <c>train</c>, <c>resume</c>): an atomic claim.</summary>
    Claim,
    /// <summary>Put it back in the queue (the page's Resume button).</summary>
    Resume,
    /// <summary>Ask it to stop: a queued run is cancelled at once, a running one after its current batch.</summary>
    Stop,
    /// <summary>Remove it and its files (its dependents decide the rest: <see cref="RunLifecycle.DeletionRefusal"/>).</summary>
    Delete,
    /// <summary>Give it another name.</summary>
    Rename,
    /// <summary>Write or change its notes.</summary>
    EditNotes,
}

/// <summary>How a run's status changes: every status write names one, and <see cref="RunLifecycle.To"/> gives (and checks) the status it writes.</summary>
public enum RunTransition
{
    /// <summary>A new run: Queued.</summary>
    Create,
    /// <summary>Queued (or, for the CLI's resume, any resumable status) → Running, with this process's lease.</summary>
    Claim,
    /// <summary>Cancelled, Failed or Interrupted → Queued (Resume).</summary>
    Requeue,
    /// <summary>Queued → Cancelled (a Stop before it started).</summary>
    CancelQueued,
    /// <summary>Running → Succeeded, Failed, Cancelled or Interrupted, by the process that holds its lease.</summary>
    Finish,
    /// <summary>Running → Interrupted, when the process that held it is gone.</summary>
    Interrupt,
    /// <summary>Running → Queued, when the process that held it is gone and another node takes it over (<c>Jobs:TakeOver</c>): it resumes from its checkpoint.</summary>
    TakeOver,
}

/// <summary>
/// The one status-transition table of a run, read by the claim's SQL, the launcher, the run page's buttons and the
/// CLI, so none of them can disagree about what a status allows. A Running run held by a dead process is not in
/// any "allowed" set: its lease is checked first (<see cref="TrainingRunService.CheckLeaseAsync"/>), which turns it
/// Interrupted, and Interrupted allows Resume.
/// </summary>
public static class RunLifecycle
{
    private static readonly FrozenDictionary<RunAction, RunStatus[]> Allowed = new Dictionary<RunAction, RunStatus[]>
    {
        // Only a queued run is claimed: a stopped run goes back to Queued through Resume first, so a Hangfire job left
        // over for a run the user stopped (or that was resumed by the CLI) finds nothing to do.
        [RunAction.Claim] = [RunStatus.Queued],
        [RunAction.Resume] = [RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted],
        [RunAction.Stop] = [RunStatus.Queued, RunStatus.Running],
        [RunAction.Delete] = [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Interrupted],
        // A run is tied to its job, lease, checkpoints and model by its id: its name and notes are labels, changed in any status.
        [RunAction.Rename] = Enum.GetValues<RunStatus>(),
        [RunAction.EditNotes] = Enum.GetValues<RunStatus>(),
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<RunTransition, (RunStatus[] From, RunStatus[] To)> Transitions = new Dictionary<RunTransition, (RunStatus[], RunStatus[])>
    {
        [RunTransition.Create] = ([], [RunStatus.Queued]),
        [RunTransition.Claim] = ([RunStatus.Queued, RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted], [RunStatus.Running]),
        [RunTransition.Requeue] = ([RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted], [RunStatus.Queued]),
        [RunTransition.CancelQueued] = ([RunStatus.Queued], [RunStatus.Cancelled]),
        [RunTransition.Finish] = ([RunStatus.Running], [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Interrupted]),
        [RunTransition.Interrupt] = ([RunStatus.Running], [RunStatus.Interrupted]),
        [RunTransition.TakeOver] = ([RunStatus.Running], [RunStatus.Queued]),
    }.ToFrozenDictionary();

    /// <summary>The statuses a run may be in for <paramref name="transition"/> to apply (its SQL's condition).</summary>
    public static RunStatus[] From(RunTransition transition) => Transitions[transition].From;

    /// <summary>
    /// The status <paramref name="transition"/> writes: its only one, or <paramref name="outcome"/> where it has several
    /// (Finish). Throws when the transition cannot end there: a write the table does not allow never reaches the database.
    /// </summary>
    public static RunStatus To(RunTransition transition, RunStatus? outcome = null)
    {
        var to = Transitions[transition].To;
        var status = outcome ?? (to.Length == 1 ? to[0] : throw new ArgumentException($"{transition} ends in one of {string.Join(", ", to)}: say which."));
        if (Array.IndexOf(to, status) < 0) throw new InvalidOperationException($"A run's {transition} cannot end {status} (only {string.Join(", ", to)}).");
        return status;
    }

    /// <summary>Whether a run may go from <paramref name="from"/> to <paramref name="to"/> by some transition.</summary>
    public static bool CanMove(RunStatus from, RunStatus to) =>
        Transitions.Values.Any(t => Array.IndexOf(t.From, from) >= 0 && Array.IndexOf(t.To, to) >= 0);

    /// <summary>Statuses of a run that is waiting for or doing work: it holds the training worker or a lease.</summary>
    public static readonly RunStatus[] Active = [RunStatus.Queued, RunStatus.Running];

    /// <summary>The statuses from which <paramref name="action"/> is allowed (EF translates <c>array.Contains(r.Status)</c> into SQL).</summary>
    public static RunStatus[] StatusesAllowing(RunAction action) => Allowed[action];

    public static bool Allows(RunStatus status, RunAction action) => Array.IndexOf(Allowed[action], status) >= 0;

    public static bool IsActive(RunStatus status) => Array.IndexOf(Active, status) >= 0;

    /// <summary>Null when <paramref name="action"/> is allowed from <paramref name="status"/>, otherwise the reason it is refused (one line).</summary>
    public static string? Refusal(RunStatus status, RunAction action, string runName) => Refusal(status, Allowed[action], action, runName);

    /// <summary>The refusal for a set of statuses other than one action's own (the CLI's <c>resume</c> claims from <see cref="ResumableHere"/>).</summary>
    public static string? Refusal(RunStatus status, RunStatus[] allowed, RunAction action, string runName)
    {
        if (Array.IndexOf(allowed, status) >= 0) return null;
        string what = action switch
        {
            RunAction.Claim => "started",
            RunAction.Resume => "resumed",
            RunAction.Stop => "stopped",
            RunAction.Delete => "deleted",
            RunAction.Rename => "renamed",
            RunAction.EditNotes => "annotated",
            _ => throw new ArgumentOutOfRangeException(nameof(action)),
        };
        string hint = status switch
        {
            RunStatus.Running => action == RunAction.Delete ? "stop it first" : "it is training now",
            RunStatus.Queued => action == RunAction.Delete ? "stop it first" : "it is waiting for the training worker",
            RunStatus.Succeeded => "train a new run instead",
            _ => $"only {Describe(allowed)} runs can be {what}",
        };
        return $"Run '{runName}' is {status}: it cannot be {what} ({hint}).";
    }

    /// <summary>
    /// Null when the run may be deleted, otherwise why not (one line): its status first, then the model the portal
    /// classifies with, which deleting the run would take away. A cross-validation fold may be deleted, but only once the
    /// person confirms it, naming the cross-validation (<see cref="FoldDeletionWarning"/>).
    /// </summary>
    /// <param name="activeModel">The name of the active model exported from this run, if any.</param>
    public static string? DeletionRefusal(RunStatus status, string runName, string? activeModel) =>
        Refusal(status, RunAction.Delete, runName)
        ?? (activeModel is null ? null
            : $"Run '{runName}' exported model '{activeModel}', the active model the portal classifies with: it cannot be deleted (make another model active first, on the Models page).");

    /// <summary>What deleting a cross-validation's fold run does to the cross-validation: the sentence a person confirms.</summary>
    public static string FoldDeletionWarning(string runName, int fold, int folds, string crossValidation) =>
        $"Run '{runName}' is fold {fold} of {folds} of cross-validation '{crossValidation}': deleting it leaves '{crossValidation}' incomplete (fold {fold} deleted), its mean over the other folds no longer final.";

    /// <summary>
    /// What the CLI's <c>resume</c> claims from, in one step so no run is left Queued without a worker to take it:
    /// the statuses Resume puts back in the queue, and Queued (a run queued by a portal that is not running).
    /// </summary>
    public static readonly RunStatus[] ResumableHere = [.. Allowed[RunAction.Claim], .. Allowed[RunAction.Resume]];

    private static string Describe(RunStatus[] statuses)
    {
        var names = statuses.Select(s => s.ToString().ToLowerInvariant()).ToList();
        return names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];
    }
}

/// <summary>
/// The one rule for a cross-validation's status, derived from its fold runs (it has none of its own), and what it allows,
/// taken from each fold run's own <see cref="RunLifecycle"/> entry.
/// </summary>
public static class CrossValidationLifecycle
{
    /// <summary>
    /// Running while a fold trains; Queued while folds wait for the worker; Succeeded when every fold did; otherwise the
    /// worst way a fold ended: Failed, then Interrupted, then Cancelled.
    /// </summary>
    public static RunStatus StatusOf(IReadOnlyCollection<RunStatus> folds)
    {
        if (folds.Count == 0) return RunStatus.Failed;
        if (folds.Contains(RunStatus.Running)) return RunStatus.Running;
        if (folds.Contains(RunStatus.Queued)) return RunStatus.Queued;
        if (folds.All(s => s == RunStatus.Succeeded)) return RunStatus.Succeeded;
        foreach (var worst in new[] { RunStatus.Failed, RunStatus.Interrupted, RunStatus.Cancelled })
        {
            if (folds.Contains(worst)) return worst;
        }
        return RunStatus.Failed;
    }

    /// <summary>Resume: some fold can be resumed (the rest have succeeded or are already waiting).</summary>
    public static bool CanResume(IReadOnlyCollection<RunStatus> folds) =>
        !folds.Contains(RunStatus.Running) && folds.Any(s => RunLifecycle.Allows(s, RunAction.Resume));

    /// <summary>Stop: some fold is queued or training.</summary>
    public static bool CanStop(IReadOnlyCollection<RunStatus> folds) => folds.Any(s => RunLifecycle.Allows(s, RunAction.Stop));

    /// <summary>
    /// What a cross-validation reads as: its status, or "incomplete (fold 1 deleted)" once a fold run was deleted (it can
    /// never have all its folds again); while its other folds still train or wait, that is said too.
    /// </summary>
    public static string Describe(RunStatus status, IReadOnlyCollection<int> deletedFolds)
    {
        if (deletedFolds.Count == 0) return status.ToString();
        string incomplete = $"incomplete ({FoldsText(deletedFolds)} deleted)";
        return RunLifecycle.IsActive(status) ? $"{status}, {incomplete}" : incomplete;
    }

    /// <summary>Whether the mean over the folds is final: every fold has a run and every run succeeded.</summary>
    public static bool MeanIsFinal(IReadOnlyCollection<RunStatus> folds, IReadOnlyCollection<int> deletedFolds) =>
        deletedFolds.Count == 0 && folds.Count > 0 && folds.All(s => s == RunStatus.Succeeded);

    /// <summary>"fold 1", "folds 1 and 3", "folds 1, 2 and 4".</summary>
    public static string FoldsText(IReadOnlyCollection<int> folds)
    {
        var sorted = folds.Order().Select(f => f.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        return sorted.Count == 1 ? $"fold {sorted[0]}" : $"folds {string.Join(", ", sorted.Take(sorted.Count - 1))} and {sorted[^1]}";
    }
}
