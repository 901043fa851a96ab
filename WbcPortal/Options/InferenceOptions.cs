using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

/// <summary>How models are served for classification (page, API, <c>predict</c>). Section <c>Inference</c>.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>
    /// How long the first request of a batch waits for others, in milliseconds. 0 (the default): none; requests that
    /// arrive while a run is busy still share the next run, and a lone request is answered at once.
    /// </summary>
    [Range(0, 1000)]
    public int MicroBatchWindowMs { get; set; }

    /// <summary>Images per batched run at most.</summary>
    [Range(1, 256)]
    public int MaxBatch { get; set; } = 32;

    /// <summary>Models kept loaded at once (each one ONNX Runtime session); the least recently used is unloaded first.</summary>
    [Range(1, 16)]
    public int MaxLoadedModels { get; set; } = 2;

    /// <summary>Images one API request may carry.</summary>
    [Range(1, 10_000)]
    public int MaxImagesPerRequest { get; set; } = 64;

    /// <summary>Images one batch of the Classify page may hold (files, or a zip's images).</summary>
    [Range(1, 100_000)]
    public int MaxImagesPerBatch { get; set; } = 2000;

    /// <summary>All images of one Classify batch together, in bytes (they are kept in memory while the batch is shown).</summary>
    [Range(1024, 1L << 34)]
    public long MaxBatchBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Classify batches kept (with their images, for thumbnails and CSV); the oldest finished one goes first.</summary>
    [Range(1, 1000)]
    public int KeptBatches { get; set; } = 20;

    /// <summary>Largest API request body, in bytes.</summary>
    [Range(1024, 1L << 34)]
    public long MaxRequestBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Largest ONNX file the Models page imports, in bytes (it is held in memory while it is checked).</summary>
    [Range(1024, 2_000_000_000)]
    public long MaxImportBytes { get; set; } = 512L * 1024 * 1024;
}
