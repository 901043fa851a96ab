using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

/// <summary>Limits on what an import accepts. Section <c>Import</c>.</summary>
public sealed class ImportOptions
{
    public const string Section = "Import";

    [Range(1024, 1L << 31)]
    public long MaxFileBytes { get; set; } = 20 * 1024 * 1024;

    [Range(32, 65535)]
    public int MaxWidth { get; set; } = 8192;

    [Range(32, 65535)]
    public int MaxHeight { get; set; } = 8192;

    [Range(1024, 1L << 32)]
    public long MaxPixels { get; set; } = 40_000_000;

    [Range(1, 1_000_000)]
    public int MaxFiles { get; set; } = 100_000;

    /// <summary>Images checked and committed together: a stopped or failed import keeps every finished batch.</summary>
    [Range(1, 100_000)]
    public int CommitBatchSize { get; set; } = 500;

    /// <summary>Largest upload (zip or files) the browser may send, in bytes.</summary>
    [Range(1024, 1L << 40)]
    public long MaxUploadBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>All staged uploads together (<c>data/uploads</c>) may take at most this many bytes; an upload that would go over is refused before copying.</summary>
    [Range(1024 * 1024, 1L << 44)]
    public long MaxStagingBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>
    /// An upload that has copied nothing for this many minutes counts as not in use: its reservation no longer blocks other
    /// uploads, and a sweep (another upload that needs the room, the Storage page's Delete, the end of a dataset job) removes it.
    /// </summary>
    [Range(1, 24 * 60)]
    public int StagingIdleMinutes { get; set; } = 5;
}
