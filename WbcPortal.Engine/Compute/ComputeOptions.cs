namespace WbcPortal.Engine.Compute;

/// <summary>Where training and inference run. Bound from the <c>Compute</c> section of appsettings.json.</summary>
public sealed class ComputeOptions
{
    public const string Section = "Compute";

    /// <summary><c>auto</c> (CUDA when TorchSharp sees a GPU, else CPU), <c>cpu</c> or <c>cuda</c>.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>TorchSharp intra-op threads; 0 means one per core.</summary>
    public int TorchThreads { get; set; }

    /// <summary>ONNX Runtime intra-op threads; 0 means one per core.</summary>
    public int OnnxThreads { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's worker threads spin between parallel steps instead of sleeping (off by default). Spinning helps runs back
    /// to back; between requests the spinning threads take the cores the next image's decoding and preparing need.
    /// </summary>
    public bool OnnxSpinning { get; set; }

    /// <summary>Try ONNX Runtime's CUDA provider (needs CUDA 13 libraries); falls back to CPU when it cannot load.</summary>
    public bool OnnxUseCuda { get; set; } = true;

    /// <summary>
    /// Give memory back to the system when a training run ends (<see cref="ProcessMemory.Release"/>: a compacting collection and
    /// glibc's trim, under a second). On by default; off only to measure what it saves (<c>bench --only idle-memory</c>).
    /// </summary>
    public bool ReleaseMemoryAfterRun { get; set; } = true;
}
