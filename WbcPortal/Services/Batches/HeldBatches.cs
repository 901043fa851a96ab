using System.Collections.Concurrent;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Batches;

/// <summary>A batch this process knows: its manifest, its images while they are not (or cannot be) read from disk, how it ended.</summary>
public sealed class HeldBatch<TManifest, TOutcome>(TManifest manifest) where TManifest : class, IStoredBatch where TOutcome : class
{
    public TManifest Manifest { get; } = manifest;
    public string Id => Manifest.Id;
    public IReadOnlyList<PredictionInput>? Inputs { get; set; }
    public TOutcome? Outcome { get; set; }
}

/// <summary>
/// The batches of one kind (Classify's, the Smears page's) this process holds, shared by the kind's service (which queues
/// a batch and shows it) and its job handler (which runs it): in front of the batch store, which keeps them on disk, and in
/// place of it on a read-only portal, where a batch lives in memory only.
/// </summary>
public abstract class HeldBatches<TManifest, TOutcome>(BatchFolderStore<TManifest, TOutcome> store, ILogger logger)
    where TManifest : class, IStoredBatch where TOutcome : class
{
    private readonly ConcurrentDictionary<string, HeldBatch<TManifest, TOutcome>> held = new(StringComparer.Ordinal);

    /// <summary>False on a read-only portal: nothing is written, the batches are held here only.</summary>
    public bool Stored => store.Enabled;

    public IEnumerable<HeldBatch<TManifest, TOutcome>> All => held.Values;

    /// <summary>Stores a new batch (when batches are stored) and holds it with its images.</summary>
    public async Task HoldNewAsync(TManifest manifest, IReadOnlyList<PredictionInput> inputs, CancellationToken cancellationToken)
    {
        await store.SaveNewAsync(manifest, inputs, cancellationToken);
        held[manifest.Id] = new HeldBatch<TManifest, TOutcome>(manifest) { Inputs = inputs };
    }

    /// <summary>Forgets a batch that never ran (it could not be queued), its stored copy too.</summary>
    public void Discard(string id)
    {
        held.TryRemove(id, out _);
        store.Delete(id);
    }

    /// <summary>The batch held here, else read from the store; read again when <paramref name="endedElsewhere"/> and its outcome is not held.</summary>
    public HeldBatch<TManifest, TOutcome>? Find(string id, bool endedElsewhere = false)
    {
        if (!BatchFolderStore<TManifest, TOutcome>.IsId(id)) return null;
        var batch = held.GetValueOrDefault(id);
        if (batch is not null && (batch.Outcome is not null || !endedElsewhere)) return batch;
        if (store.Load(id) is not { } stored) return batch;
        return held.AddOrUpdate(id, _ => new HeldBatch<TManifest, TOutcome>(stored.Manifest) { Outcome = stored.Outcome },
            (_, known) =>
            {
                known.Outcome ??= stored.Outcome;
                return known;
            });
    }

    /// <summary>The batch's images: held, else stored; null when neither has them any more.</summary>
    public IReadOnlyList<PredictionInput>? InputsOf(string id) => held.GetValueOrDefault(id)?.Inputs ?? store.Inputs(id);

    /// <summary>Image <paramref name="index"/> as uploaded, or null.</summary>
    public byte[]? ImageBytes(string id, int index) =>
        held.GetValueOrDefault(id)?.Inputs is { } inputs ? (index >= 0 && index < inputs.Count ? inputs[index].Bytes : null) : store.ImageBytes(id, index);

    /// <summary>Whether the batch's images can be run again (stored, or held in memory).</summary>
    public bool CanRunAgain(HeldBatch<TManifest, TOutcome> batch) => batch.Inputs is not null || store.Enabled;

    /// <summary>Records how a batch ended, with it and in the store; from then on its images are read from disk (when stored).</summary>
    public async Task RecordAsync(HeldBatch<TManifest, TOutcome> batch, TOutcome outcome)
    {
        batch.Outcome = outcome;
        try
        {
            await store.SaveOutcomeAsync(batch.Id, outcome, CancellationToken.None);
            if (store.Enabled) batch.Inputs = null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The answers stay shown while this process runs; after a restart the batch reads as cut short.
            logger.LogWarning(ex, "Batch {Batch}: its answers could not be stored", batch.Id);
        }
    }

    /// <summary>Keeps the newest <paramref name="keep"/> batches (held and stored) and every one <paramref name="spared"/> names.</summary>
    public void Trim(int keep, IReadOnlySet<string> spared)
    {
        foreach (var old in held.Values.Where(b => !spared.Contains(b.Id)).OrderByDescending(b => b.Manifest.StartedAt).Skip(keep).ToList())
            held.TryRemove(old.Id, out _);
        try
        {
            store.Trim(keep, spared);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Old batches could not be deleted");
        }
    }

    /// <summary>Stored batch ids, newest first; on a read-only portal the batches held here.</summary>
    public IReadOnlyList<(string Id, DateTimeOffset StartedAt)> List() => store.Enabled
        ? store.List()
        : held.Values.OrderByDescending(b => b.Manifest.StartedAt).Select(b => (b.Id, b.Manifest.StartedAt)).ToList();
}
