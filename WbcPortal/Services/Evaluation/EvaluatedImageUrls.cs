namespace WbcPortal.Services.Evaluation;

/// <summary>
/// Where the browser finds a picture of an evaluated image: the image store for a dataset image, the run's previews for a
/// folder or zip image (never imported, <see cref="Engine.Evaluation.EvaluationPreviews"/>). One place, so the review page,
/// the dashboard's gallery and its per-image table show the same picture.
/// </summary>
public static class EvaluatedImageUrls
{
    /// <summary>The thumbnail, or null when the image has no stored picture (an evaluation stored before previews were kept).</summary>
    public static string? Thumbnail(int runId, int? datasetImageId, string? sha) => sha is null ? null
        : datasetImageId is not null ? $"api/images/{sha}/thumb" : $"api/runs/{runId}/previews/{sha}/thumb";

    /// <summary>The full picture (a folder image's bounded preview), or null.</summary>
    public static string? Full(int runId, int? datasetImageId, string? sha) => sha is null ? null
        : datasetImageId is not null ? $"api/images/{sha}" : $"api/runs/{runId}/previews/{sha}";
}
