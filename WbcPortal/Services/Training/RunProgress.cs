using System.Collections.Concurrent;

namespace WbcPortal.Services.Training;

/// <summary>
/// Where the runs this node trains are, batch by batch (kept in memory: epochs are in the database), and the one place
/// pages and the CLI hear that a run changed. Written only by <see cref="TrainingRunService"/>; read by the pages that
/// follow runs, which need nothing else of it.
/// </summary>
public sealed class RunProgress(RunChanges changes)
{
    private readonly ConcurrentDictionary<int, RunLiveProgress> live = new();

    /// <summary>The run's latest numbers, while this node trains it; null otherwise (not started, ended, or trained elsewhere).</summary>
    public RunLiveProgress? Live(int runId) => live.GetValueOrDefault(runId);

    /// <summary>Called (from a background thread) with a run id whenever that run changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<int> onChange) => changes.Subscribe(onChange);

    internal void Set(int runId, RunLiveProgress progress) => live[runId] = progress;

    internal void Clear(int runId) => live.TryRemove(runId, out _);
}
