using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Datasets;
using WbcPortal.Storage;

namespace WbcPortal.Services.Exploration;

/// <summary>
/// The Explore area: seeded sample grids and the dataset measures. A measurement runs once per
/// dataset content and sample size, off the circuit, and is kept in memory; every page that asks
/// for it while it runs watches the same run.
/// </summary>
public sealed class ExplorationService(
    DatasetService datasets,
    IDbContextFactory<WbcDbContext> contexts,
    ImageStore store,
    ImageDecoding decoding,
    ILogger<ExplorationService> logger) : IDisposable
{
    public const int DefaultSamplePerClass = 300;

    private readonly DatasetExplorer explorer = new(decoding);
    private readonly Dictionary<RunKey, ExplorationRun> runs = [];
    private readonly CancellationTokenSource stopping = new();

    public Task<IReadOnlyList<DatasetSummary>> ListDatasetsAsync(CancellationToken cancellationToken = default) => datasets.ListAsync(cancellationToken);

    /// <summary>A seeded random sample of <paramref name="perClass"/> images of each class.</summary>
    public async Task<IReadOnlyList<ClassSample>> GetSampleAsync(int datasetId, int perClass, int seed, CancellationToken cancellationToken = default)
    {
        var images = await LoadImagesAsync(datasetId, cancellationToken);
        var sample = Sampling.PerClass(images, i => i.ClassName, perClass, seed);
        var totals = images.GroupBy(i => i.ClassName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return sample.GroupBy(i => i.ClassName, StringComparer.Ordinal)
            .Select(g => new ClassSample(g.Key, totals[g.Key], g.Select(i => new SampleImage(i.Sha256, i.RelativePath)).ToList()))
            .ToList();
    }

    /// <summary>The measurement of <paramref name="dataset"/>: the finished one from memory, the one running, or a new one.</summary>
    public ExplorationRun Explore(DatasetSummary dataset, int samplePerClass = DefaultSamplePerClass)
    {
        // The image count is in the key: a dataset that gained images is measured again.
        var key = new RunKey(dataset.Id, dataset.Images, samplePerClass);
        lock (runs)
        {
            if (runs.TryGetValue(key, out var run) && !run.Completion.IsFaulted && !run.Completion.IsCanceled) return run;
            run = new ExplorationRun(r => MeasureAsync(key, r), stopping.Token); // a failed run is retried, not kept
            runs[key] = run;
            return run;
        }
    }

    private async Task<ExplorationResult> MeasureAsync(RunKey key, ExplorationRun run)
    {
        var images = await LoadImagesAsync(key.DatasetId, run.CancellationToken);
        var items = images.Select(i => new ExplorationImage(i.ClassName, store.ImagePath(i.Sha256, i.Format))).ToList();
        var options = new ExplorationOptions { SamplePerClass = key.SamplePerClass };
        // A thread of its own (and the explorer's own second one): the measurement never holds pool threads the circuits need.
        var result = await Task.Factory.StartNew(() => explorer.Explore(items, options, run, run.CancellationToken),
            run.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        logger.LogInformation("Explored dataset {Dataset}: {Measured} images measured ({Failed} unreadable) in {Seconds:F1} s",
            key.DatasetId, result.Measured, result.Failed, result.Elapsed.TotalSeconds);
        return result;
    }

    private async Task<List<ImageRow>> LoadImagesAsync(int datasetId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id)
            .Select(i => new ImageRow(i.ClassName, i.RelativePath, i.Sha256, i.Stored!.Format))
            .ToListAsync(cancellationToken);
    }

    public void Dispose()
    {
        stopping.Cancel();
        stopping.Dispose();
    }

    private sealed record RunKey(int DatasetId, int Images, int SamplePerClass);

    private sealed record ImageRow(string ClassName, string RelativePath, string Sha256, string Format);
}

public sealed record SampleImage(string Sha256, string RelativePath);

public sealed record ClassSample(string ClassName, int Total, IReadOnlyList<SampleImage> Images);

/// <summary>
/// One measurement in progress or done. Pages subscribe to its progress and dispose the subscription;
/// the run itself belongs to the service, so a page that goes away does not cancel it.
/// </summary>
public sealed class ExplorationRun : IProgress<double>
{
    private readonly Lock gate = new();
    private readonly List<Action> listeners = [];
    private int lastPercent = -1;

    internal ExplorationRun(Func<ExplorationRun, Task<ExplorationResult>> measure, CancellationToken cancellationToken)
    {
        CancellationToken = cancellationToken;
        Completion = Task.Run(async () =>
        {
            try
            {
                return await measure(this);
            }
            finally
            {
                Notify();
            }
        }, cancellationToken);
    }

    internal CancellationToken CancellationToken { get; }

    public Task<ExplorationResult> Completion { get; }

    /// <summary>0 to 1.</summary>
    public double Progress { get; private set; }

    /// <summary>Calls <paramref name="onChange"/> (on a pool thread) when progress moves by a percent and when the run ends.</summary>
    public IDisposable Subscribe(Action onChange)
    {
        lock (gate) listeners.Add(onChange);
        return new Subscription(this, onChange);
    }

    void IProgress<double>.Report(double value)
    {
        Progress = value;
        int percent = (int)(value * 100);
        if (Interlocked.Exchange(ref lastPercent, percent) != percent) Notify();
    }

    private void Notify()
    {
        Action[] current;
        lock (gate) current = [.. listeners];
        foreach (var listener in current) listener();
    }

    private sealed class Subscription(ExplorationRun run, Action listener) : IDisposable
    {
        public void Dispose()
        {
            lock (run.gate) run.listeners.Remove(listener);
        }
    }
}
