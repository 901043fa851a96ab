using WbcPortal.Options;
using WbcPortal.Services.Batches;

namespace WbcPortal.Services.Classify;

/// <summary>What a Classify batch was asked to do, as stored: the model, the file names in input order, the files set aside.</summary>
public sealed record ClassifyBatchManifest(string Id, ModelChoice Model, IReadOnlyList<string> Files, IReadOnlyList<SkippedFile> Skipped, DateTimeOffset StartedAt) : IStoredBatch;

/// <summary>A file refused before classifying, with the reason.</summary>
public sealed record SkippedFile(string File, string Reason);

/// <summary>How a stored batch ended: its answers, or the reason it failed.</summary>
public sealed record ClassifyBatchOutcome(ClassifyJobState State, string? Error, double Seconds, PredictionBatch? Result);

/// <summary>Classify batches on disk (<c>classify/&lt;id&gt;/</c>); see <see cref="BatchFolderStore{TManifest, TOutcome}"/>.</summary>
public sealed class ClassifyBatchStore(StorageOptions storage) : BatchFolderStore<ClassifyBatchManifest, ClassifyBatchOutcome>(storage, "classify");
