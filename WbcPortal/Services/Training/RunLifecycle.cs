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
    /// <summary>Remove it and its files.</summary>
    Delete,
}

/// <summary>
/// The one status-transition table of a run, read by the claim's SQL, the launcher, the run page's buttons and the
/// CLI, so none of them can disagree about what a status allows. A Running run held by a dead process is not in
/// any "allowed" set: its lease is checked first (<see cref="TrainingRunService.CheckLeaseAsync"/>), which turns it
/// Interrupted, and Interrupted allows Claim and Resume.
/// </summary>
public static class RunLifecycle
{
    private static readonly FrozenDictionary<RunAction, RunStatus[]> Allowed = new Dictionary<RunAction, RunStatus[]>
    {
        [RunAction.Claim] = [RunStatus.Queued, RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted],
        [RunAction.Resume] = [RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted],
        [RunAction.Stop] = [RunStatus.Queued, RunStatus.Running],
        [RunAction.Delete] = [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Interrupted],
    }.ToFrozenDictionary();

    /// <summary>Statuses of a run that is waiting for or doing work: it holds the training worker or a lease.</summary>
    public static readonly RunStatus[] Active = [RunStatus.Queued, RunStatus.Running];

    /// <summary>The statuses from which <paramref name="action"/> is allowed (EF translates <c>array.Contains(r.Status)</c> into SQL).</summary>
    public static RunStatus[] StatusesAllowing(RunAction action) => Allowed[action];

    public static bool Allows(RunStatus status, RunAction action) => Array.IndexOf(Allowed[action], status) >= 0;

    public static bool IsActive(RunStatus status) => Array.IndexOf(Active, status) >= 0;

    /// <summary>Null when <paramref name="action"/> is allowed from <paramref name="status"/>, otherwise the reason it is refused.</summary>
    public static string? Refusal(RunStatus status, RunAction action, string runName)
    {
        if (Allows(status, action)) return null;
        string what = action switch
        {
            RunAction.Claim => "started",
            RunAction.Resume => "resumed",
            RunAction.Stop => "stopped",
            RunAction.Delete => "deleted",
            _ => throw new ArgumentOutOfRangeException(nameof(action)),
        };
        string because = status switch
        {
            RunStatus.Running => "it is training now (stop it first)",
            RunStatus.Queued => action == RunAction.Resume ? "it is queued already" : "it is queued (stop it first)",
            RunStatus.Succeeded => "it has finished (train a new run instead)",
            _ => $"it is {status}",
        };
        return $"Run '{runName}' cannot be {what}: {because}. Only {Describe(Allowed[action])} runs can be {what}.";
    }

    private static string Describe(RunStatus[] statuses)
    {
        var names = statuses.Select(s => s.ToString().ToLowerInvariant()).ToList();
        return names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];
    }
}
