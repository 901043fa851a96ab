using WbcPortal.Engine.Datasets.Import;

namespace WbcPortal.Services.Datasets;

public sealed record DatasetSummary(
    int Id,
    string Name,
    DateTimeOffset CreatedAt,
    int Images,
    IReadOnlyDictionary<string, int> Classes,
    DateTimeOffset? GroupedAt,
    int Groups,
    int Splits)
{
    /// <summary>1 for an imported dataset, n + 1 for a version made from one of version n.</summary>
    public int Version { get; init; } = 1;
    /// <summary>The dataset this version was made from.</summary>
    public int? ParentId { get; init; }
    public bool IsVersion => Version > 1;
}

public sealed record DatasetImportSummary(
    int DatasetId,
    string Dataset,
    int Images,
    IReadOnlyDictionary<string, int> Classes,
    int Duplicates,
    IReadOnlyList<ImportOutcome> Rejected,
    double Seconds);

public sealed record GalleryImage(int Id, string ClassName, string RelativePath, string Sha256, int Width, int Height, int? SourceGroup);

public sealed record GalleryPage(IReadOnlyList<GalleryImage> Items, int Total);
