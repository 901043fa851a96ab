using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Evaluation.Explain;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Options;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Review;

/// <summary>Where a run's index of training images stands.</summary>
public enum NeighbourIndexState
{
    Missing,
    /// <summary>Its job is queued or running (<see cref="NeighbourIndexStatus.Job"/> has its progress, and can be cancelled).</summary>
    Building,
    Ready,
    Failed,
    Cancelled,
}

/// <param name="Job">The newest index job of the run on the board, when there is one.</param>
public sealed record NeighbourIndexStatus(NeighbourIndexState State, JobView? Job = null)
{
    public string? Error => State == NeighbourIndexState.Failed ? Job?.Error : null;
}

/// <summary>A training image near the query in the model's feature space.</summary>
public sealed record NeighbourImage(int ImageId, string Sha256, string ClassName, string Path, double Similarity);

/// <summary>
/// The nearest training images of a run in its own model's feature space: the training part's features are computed
/// once with the run's exported model (a <see cref="NeighbourIndexJob"/> on the job system, with progress, Cancel and a
/// reason when it fails) and kept beside the run as a file (<c>runs/&lt;id&gt;/neighbours-train.bin</c>, written
/// atomically), so a page on any node, or after a restart, finds it; a read-only portal keeps the index it computes in
/// memory. A query then takes one forward pass and a scan.
/// </summary>
public sealed class NeighbourService(IDbContextFactory<WbcDbContext> contexts, OnnxSessionFactory sessions, BackboneRegistry backbones, ImageDecoding decoding,
    ImageStore store, StorageOptions storage)
{
    public const int BatchSize = 32;
    private readonly ConcurrentDictionary<int, FeatureIndex> loaded = new();

    /// <summary>Whether the run's index is there to search (computed here, or its file in the run's folder).</summary>
    public bool HasIndex(int runId) => loaded.ContainsKey(runId) || File.Exists(IndexPath(runId));

/// <summary>The <paramref name="k"/> nearest training images of a dataset image; null until the index is ready.</summary>
    public async Task<IReadOnlyList<NeighbourImage>?> NearestAsync(int runId, int imageId, int k = 8, CancellationToken cancellationToken = default)
    {
        if (!loaded.TryGetValue(runId, out var index))
        {
            if (!File.Exists(IndexPath(runId))) return null;
            index = loaded.GetOrAdd(runId, _ => FeatureIndex.Load(IndexPath(runId)));
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = await db.DatasetImages.AsNoTracking().Where(i => i.Id == imageId).Select(i => new { i.Sha256, i.Stored!.Format }).SingleOrDefaultAsync(cancellationToken)
                    ?? throw new ArgumentException($"No image {imageId}.");
        using var classifier = FeatureModel(runId);
        float[] features;
        using (var image = decoding.DecodeRgb(await File.ReadAllBytesAsync(store.ImagePath(query.Sha256, query.Format), cancellationToken), cancellationToken))
            features = classifier.Features([image])[0];
        var found = index.Nearest(features, k, new HashSet<int> { imageId });
        var ids = found.Select(n => n.Id).ToList();
        var rows = await db.DatasetImages.AsNoTracking().Where(i => ids.Contains(i.Id)).ToDictionaryAsync(i => i.Id, cancellationToken);
        return found.Where(n => rows.ContainsKey(n.Id)).Select(n => new NeighbourImage(n.Id, rows[n.Id].Sha256, rows[n.Id].ClassName, rows[n.Id].RelativePath, n.Similarity)).ToList();
    }

    /// <summary>
    /// The run's model for features only (one view per image): without flips, so a self-contained model, which would otherwise
    /// run its four views for the first one's features, is rebuilt with one.
    /// </summary>
    private OnnxClassifier FeatureModel(int runId) => OnnxClassifier.Load(ModelPath(runId), sessions, backbones, testTimeAugmentation: false);

    /// <summary>
    /// Computes the run's index (the job's work: <see cref="NeighbourIndexJobHandler"/>) and keeps it: in the run's folder,
    /// or in memory on a read-only portal. Returns how many training images it holds.
    /// </summary>
    internal async Task<int> BuildAsync(int runId, IProgress<JobProgress> progress, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var splitId = await db.Runs.AsNoTracking().Where(r => r.Id == runId && r.Status == RunStatus.Succeeded).Select(r => (int?)r.SplitId).SingleOrDefaultAsync(cancellationToken)
                      ?? throw new ArgumentException($"Run {runId} has not succeeded: it has no model to search with.");
        if (!File.Exists(ModelPath(runId))) throw new ArgumentException($"Run {runId}'s model is not in the data folder any more: there is nothing to compute the features with.");
        var images = await (from m in db.SplitMembers.AsNoTracking()
                            join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                            where m.SplitId == splitId && m.Part == SplitPart.Train
                            orderby i.Id
                            select new { i.Id, i.ClassName, i.Sha256, i.Stored!.Format }).ToListAsync(cancellationToken);
        using var classifier = FeatureModel(runId);
        var labelOf = classifier.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
        var features = new List<float[]>(images.Count);
        progress.Report(new JobProgress(0, $"0 of {images.Count:N0} training images"));
        for (int start = 0; start < images.Count; start += BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = images.Skip(start).Take(BatchSize).ToList();
            var decoded = new List<Image<Rgb24>>(batch.Count);
            try
            {
                foreach (var b in batch) decoded.Add(decoding.DecodeRgb(await File.ReadAllBytesAsync(store.ImagePath(b.Sha256, b.Format), cancellationToken), cancellationToken));
                features.AddRange(classifier.Features(decoded));
            }
            finally
            {
                foreach (var d in decoded) d.Dispose();
            }
            int done = Math.Min(images.Count, start + BatchSize);
            progress.Report(new JobProgress((double)done / images.Count, $"{done:N0} of {images.Count:N0} training images"));
        }
        var index = new FeatureIndex(images.Select(i => i.Id).ToList(), images.Select(i => labelOf.GetValueOrDefault(i.ClassName, -1)).ToList(), features);
        // Beside the run (a temporary file moved in place: a reader never sees half of it); a read-only portal writes nothing.
        if (!storage.ReadOnly) index.Save(IndexPath(runId));
        loaded[runId] = index;
        return images.Count;
    }

    private string RunDirectory(int runId) => WbcPortal.Storage.DataFolderLayout.RunFolder(storage.DataDirectoryFullPath, runId);
    private string ModelPath(int runId) => WbcPortal.Storage.DataFolderLayout.ModelPath(storage.DataDirectoryFullPath, runId);
    private string IndexPath(int runId) => Path.Combine(RunDirectory(runId), "neighbours-train.bin");
}
