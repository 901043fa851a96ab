using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Inference.Serving;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Services.Classify;

/// <summary>
/// The models loaded for classification: one long-lived session per model (keyed by its file), loaded and warmed on
/// first use, reloaded when its file changes (a recalibration rewrites the threshold), the least recently used
/// unloaded past <see cref="InferenceOptions.MaxLoadedModels"/>. A model swapped out is retired, not disposed: requests
/// holding a lease finish on it, and it is disposed when the last returns.
/// </summary>
public sealed class ModelServing(StorageOptions storage, OnnxSessionFactory sessions, BackboneRegistry backbones, InferenceOptions options) : IAsyncDisposable
{
    private sealed record Entry(ServedModel Model, DateTime FileTime)
    {
        public long LastUsed;
    }

    private readonly Dictionary<string, Entry> loaded = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim gate = new(1, 1);
    private long clock;

    /// <summary>Where models run: the ONNX Runtime providers usable here (CUDA first when it loads).</summary>
    public IReadOnlyList<string> Providers => sessions.UsableProviders;

    /// <summary>A lease on the model in file <paramref name="path"/> (relative paths are inside the data folder), loading it if needed.</summary>
    public async Task<ServedModel.Lease> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        path = Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, path));
        for (int attempt = 0; ; attempt++)
        {
            var model = await CurrentAsync(path, cancellationToken);
            if (model.TryAcquire() is { } lease) return lease;
            if (attempt > 3) throw new InvalidOperationException("The model was unloaded while starting the request; try again.");
        }
    }

    private async Task<ServedModel> CurrentAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"The model file {Path.GetFileName(path)} is missing from the data folder.", path);
        var fileTime = File.GetLastWriteTimeUtc(path);
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (loaded.TryGetValue(path, out var entry) && entry.FileTime == fileTime)
            {
                entry.LastUsed = ++clock;
                return entry.Model;
            }
            if (entry is not null)
            {
                loaded.Remove(path);
                entry.Model.Retire();
            }
            var classifier = await Task.Run(() => OnnxClassifier.Load(path, sessions, backbones), cancellationToken);
            ServedModel model;
            try
            {
                model = await Task.Run(() => ServedModel.Load(path, classifier,
                    new MicroBatchOptions(TimeSpan.FromMilliseconds(options.MicroBatchWindowMs), options.MaxBatch)), cancellationToken);
            }
            catch
            {
                classifier.Dispose();
                throw;
            }
            loaded[path] = new Entry(model, fileTime) { LastUsed = ++clock };
            while (loaded.Count > options.MaxLoadedModels)
            {
                var oldest = loaded.MinBy(e => e.Value.LastUsed);
                loaded.Remove(oldest.Key);
                oldest.Value.Model.Retire();
            }
            return model;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>How many models are loaded now.</summary>
    public int LoadedCount
    {
        get
        {
            gate.Wait();
            try { return loaded.Count; }
            finally { gate.Release(); }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await gate.WaitAsync();
        try
        {
            foreach (var entry in loaded.Values) entry.Model.Retire();
            loaded.Clear();
        }
        finally
        {
            gate.Release();
        }
    }
}
