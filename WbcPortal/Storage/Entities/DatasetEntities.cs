using WbcPortal.Engine.Datasets.Splitting;

namespace WbcPortal.Storage.Entities;

/// <summary>A named collection of labelled images, imported from folders, zips or uploads.</summary>
public sealed class Dataset
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>When source groups were last computed; null until then. Cleared when images are added.</summary>
    public DateTimeOffset? GroupedAt { get; set; }
    public int GroupCount { get; set; }
    /// <summary>The <c>SourceGrouper.Version</c> that found the groups: groups of an older grouper are found again before a new split.</summary>
    public string? GrouperVersion { get; set; }
    /// <summary>The margin the stored groups were cut at (standard or cautious).</summary>
    public string? GroupingMargin { get; set; }
    /// <summary>Groups and largest group at each margin, as JSON (the cost of the cautious margin, shown where splits are made).</summary>
    public string? GroupingCutsJson { get; set; }
    /// <summary>The dataset this one is a version of (made from its review decisions), or null for an imported dataset.</summary>
    public int? ParentDatasetId { get; set; }
    /// <summary>1 for an imported dataset; a version made from a dataset of version n is n + 1. A version is immutable.</summary>
    public int Version { get; set; } = 1;
    /// <summary>For a version: what it changed from its parent (<c>DatasetVersionChangeRow</c> list as JSON).</summary>
    public string? ChangesJson { get; set; }
    public List<DatasetImage> Images { get; set; } = [];
}

/// <summary>An image file stored once by content (SHA-256), shared by every dataset that holds it.</summary>
public sealed class StoredImage
{
    public required string Sha256 { get; set; }
    public required string Format { get; set; }
    public int Width { get; set; }
    public int Height { get; set; }
    public long Bytes { get; set; }
}

/// <summary>An image in a dataset: its class, where it came from, and its source group once grouping has run.</summary>
public sealed class DatasetImage
{
    public int Id { get; set; }
    public int DatasetId { get; set; }
    public required string ClassName { get; set; }
    /// <summary>The path inside the imported folder or zip, e.g. <c>EOSINOPHIL/_0_123.jpeg</c>.</summary>
    public required string RelativePath { get; set; }
    /// <summary>The folder above the class folder (TRAIN, TEST), if any.</summary>
    public string? FolderPart { get; set; }
    public required string Sha256 { get; set; }
    public StoredImage? Stored { get; set; }
    public int? SourceGroup { get; set; }
}

/// <summary>One import into a dataset and what happened to each file.</summary>
public sealed class ImportRecord
{
    public int Id { get; set; }
    public int DatasetId { get; set; }
    public required string Source { get; set; }
    public DateTimeOffset At { get; set; }
    public int Accepted { get; set; }
    public int Rejected { get; set; }
    public List<ImportOutcomeRow> Outcomes { get; set; } = [];
}

public sealed class ImportOutcomeRow
{
    public int Id { get; set; }
    public int ImportRecordId { get; set; }
    public required string RelativePath { get; set; }
    public required string Reason { get; set; }
    public required string Message { get; set; }
    public string? ClassName { get; set; }
}

/// <summary>An edge of the near-duplicate graph grouping found: two images that are copies of one original.</summary>
public sealed class NearDuplicateEdge
{
    public int Id { get; set; }
    public int DatasetId { get; set; }
    public int ImageA { get; set; }
    public int ImageB { get; set; }
    public double Similarity { get; set; }
}

/// <summary>An immutable, named train/validation/test split of a dataset.</summary>
public sealed class Split
{
    public int Id { get; set; }
    public int DatasetId { get; set; }
    public Dataset? Dataset { get; set; }
    public required string Name { get; set; }
    /// <summary>Stored as its name ("random", "grouped", "folders").</summary>
    public required WbcPortal.Engine.Datasets.Splitting.SplitStrategy Strategy { get; set; }
    public required string Ratios { get; set; }
    public int Seed { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>The split report (counts per class per part, groups, leaks) as JSON.</summary>
    public required string ReportJson { get; set; }
    public List<SplitMember> Members { get; set; } = [];
}

public sealed class SplitMember
{
    public int SplitId { get; set; }
    public int DatasetImageId { get; set; }
    /// <summary>Stored as its name ("train", "val", "test").</summary>
    public required SplitPart Part { get; set; }
}
