namespace WbcPortal.Services.Training;

/// <summary>Tells subscribers (pages, the CLI's progress line) that a run changed: training, its evaluations, its model.</summary>
public sealed class RunChanges(ILogger<RunChanges> logger)
{
    private readonly ChangeNotifier<int> changes = new(logger);

    /// <summary>Called (from a background thread) with a run id whenever that run changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<int> onChange) => changes.Subscribe(onChange);

    public void Notify(int runId) => changes.Notify(runId);
}
