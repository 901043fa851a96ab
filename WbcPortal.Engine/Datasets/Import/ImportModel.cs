namespace WbcPortal.Engine.Datasets.Import;

/// <summary>One file offered for import: its path relative to the imported folder or zip, and how to read it.</summary>
/// <param name="RelativePath">Forward-slash path, e.g. <c>TRAIN/EOSINOPHIL/_0_123.jpeg</c>.</param>
/// <param name="ClassName">The class when the user chose it (browser upload into a class); otherwise taken from the folder.</param>
/// <param name="Open">Opens the bytes; may be called once.</param>
/// <param name="Length">The length the source declares, if any (a zip's header can lie: reading is bounded anyway).</param>
/// <param name="Rejection">Set when the source itself already rejects the entry (unsafe zip path, bomb).</param>
public sealed record ImportEntry(
    string RelativePath,
    string? ClassName,
    Func<Stream> Open,
    long? Length,
    (ImportReason Reason, string Message)? Rejection = null);

public enum ImportReason
{
    Accepted,
    NotAnImage,
    UnsupportedFormat,
    Corrupt,
    TooLargeBytes,
    TooLargePixels,
    Duplicate,
    OutsideClassFolder,
    UnsafeZipEntry,
    Ignored,
    /// <summary>Not a regular file (a FIFO, a device, a socket) or not readable: never opened.</summary>
    Unreadable,
    /// <summary>Metadata (PNG text or profile chunks) that would inflate past its limit: a decompression bomb.</summary>
    UnsafeMetadata,
}

/// <summary>What happened to one file.</summary>
public sealed record ImportOutcome(string RelativePath, ImportReason Reason, string Message, string? ClassName = null, string? Sha256 = null)
{
    public bool Accepted => Reason == ImportReason.Accepted;
}

/// <summary>An accepted image, stored by content hash.</summary>
public sealed record ImportedImage(string RelativePath, string ClassName, string? FolderPart, string Sha256, string Format, int Width, int Height, long Bytes);

public sealed record ImportProgress(int Done, int Total, int Accepted, int Rejected, string? Current);

public sealed record ImportResult(IReadOnlyList<ImportedImage> Images, IReadOnlyList<ImportOutcome> Outcomes)
{
    public IReadOnlyDictionary<string, int> ClassCounts =>
        Images.GroupBy(i => i.ClassName).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
}

/// <summary>Limits on an import. Defaults suit slide images; all are enforced before or while reading.</summary>
public sealed record ImportLimits
{
    public int MaxFiles { get; init; } = 100_000;
    public long MaxTotalBytes { get; init; } = 8L * 1024 * 1024 * 1024;
    /// <summary>A zip entry whose uncompressed size exceeds its compressed size by more than this is refused (zip bomb).</summary>
    public int MaxCompressionRatio { get; init; } = 200;
    public int ThumbnailHeight { get; init; } = 96;
    /// <summary>Files checked and committed together by an import into the database.</summary>
    public int CommitBatchSize { get; init; } = 500;
}
