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
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Review;

/// <summary>Where a run's index of training images stands.</summary>
public enum NeighbourIndexState
{
    Missing,
    Building,
    Ready,
    Failed,
}

public sealed record NeighbourIndexStatus(NeighbourIndexState State, int Done = 0, int Total = 0, string? Error = null);

/// <summary>A training image near the query in the model's feature space.</summary>
public sealed record NeighbourImage(int ImageId, string Sha256, string ClassName, string Path, double Similarity);

/// <summary>
/// The nearest training images of a run in its own model's feature space: the training part's features are computed
/// once with the run's exported model (in the background, with progress) and kept beside it as a file; a query then
/// takes one forward pass and a scan.
/// </summary>
public sealed class NeighbourService(IDbContextFactory<WbcDbContext> contexts, OnnxSessionFactory sessions, BackboneRegistry backbones, ImageDecoding decoding,
    ImageStore store, StorageOptions storage, ILogger<NeighbourService> logger)
{
    public const int BatchSize = 32;
    private readonly ConcurrentDictionary<int, NeighbourIndexStatus> building = new();
    private readonly ConcurrentDictionary<int, FeatureIndex> loaded = new();

    public NeighbourIndexStatus Status(int runId)
    {
        if (loaded.ContainsKey(runId)) return new(NeighbourIndexState.Ready);
        if (building.TryGetValue(runId, out var status)) return status;
        return File.Exists(IndexPath(runId)) ? new(NeighbourIndexState.Ready) : new(NeighbourIndexState.Missing);
    }

    /// <summary>Starts computing the run's index in the background (no-op when it exists or is being built).</summary>
    public void StartBuild(int runId)
    {
        if (storage.ReadOnly) throw new InvalidOperationException(storage.ReadOnlyRefusal("the training images' features are computed on the portal that holds the data folder"));
        lock (building)
        {
            if (Status(runId).State is NeighbourIndexState.Ready or NeighbourIndexState.Building) return;
            building[runId] = new(NeighbourIndexState.Building);
        }
        _ = Task.Run(async () =>
        {
            try
            {
                var index = await BuildAsync(runId, (done, total) => building[runId] = new(NeighbourIndexState.Building, done, total));
                loaded[runId] = index;
                building.TryRemove(runId, out _);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                logger.LogWarning(ex, "The nearest-image index of run {Run} failed", runId);
                building[runId] = new(NeighbourIndexState.Failed, Error: ex.Message);
            }
        });
    }

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

    private async Task<FeatureIndex> BuildAsync(int runId, Action<int, int> progress)
    {
        await using var db = await contexts.CreateDbContextAsync();
        var splitId = await db.Runs.AsNoTracking().Where(r => r.Id == runId && r.Status == RunStatus.Succeeded).Select(r => (int?)r.SplitId).SingleOrDefaultAsync()
                      ?? throw new ArgumentException($"Run {runId} has not succeeded: it has no model to search with.");
        var images = await (from m in db.SplitMembers.AsNoTracking()
                            join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                            where m.SplitId == splitId && m.Part == SplitPart.Train
                            orderby i.Id
                            select new { i.Id, i.ClassName, i.Sha256, i.Stored!.Format }).ToListAsync();
        using var classifier = FeatureModel(runId);
        var labelOf = classifier.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
        var features = new List<float[]>(images.Count);
        for (int start = 0; start < images.Count; start += BatchSize)
        {
            var batch = images.Skip(start).Take(BatchSize).ToList();
            var decoded = new List<Image<Rgb24>>(batch.Count);
            try
            {
                foreach (var b in batch) decoded.Add(decoding.DecodeRgb(await File.ReadAllBytesAsync(store.ImagePath(b.Sha256, b.Format))));
                features.AddRange(classifier.Features(decoded));
            }
            finally
            {
                foreach (var d in decoded) d.Dispose();
            }
            progress(Math.Min(images.Count, start + BatchSize), images.Count);
        }
        var index = new FeatureIndex(images.Select(i => i.Id).ToList(), images.Select(i => labelOf.GetValueOrDefault(i.ClassName, -1)).ToList(), features);
        index.Save(IndexPath(runId));
        return index;
    }

    private string RunDirectory(int runId) => WbcPortal.Storage.DataFolderLayout.RunFolder(storage.DataDirectoryFullPath, runId);
    private string ModelPath(int runId) => WbcPortal.Storage.DataFolderLayout.ModelPath(storage.DataDirectoryFullPath, runId);
    private string IndexPath(int runId) => Path.Combine(RunDirectory(runId), "neighbours-train.bin");
}
