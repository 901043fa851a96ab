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
    int Splits);

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
