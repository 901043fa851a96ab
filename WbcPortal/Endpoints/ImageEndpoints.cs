using Microsoft.EntityFrameworkCore;
using Microsoft.Net.Http.Headers;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Storage;

namespace WbcPortal.Endpoints;

/// <summary>
/// Stored images and thumbnails by content hash. Content never changes under a hash, so responses
/// are cacheable for a year as immutable, with the hash as ETag.
/// </summary>
public static class ImageEndpoints
{
    public static IEndpointRouteBuilder MapImageEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/images");
        group.MapGet("/{sha}/thumb", (string sha, HttpContext http, ImageStore store) =>
            Serve(http, sha, ImageStore.IsValidSha(sha) ? store.ThumbnailPath(sha) : null, "image/jpeg"));
        group.MapGet("/{sha}", async (string sha, HttpContext http, ImageStore store, IDbContextFactory<WbcDbContext> contexts) =>
        {
            if (!ImageStore.IsValidSha(sha)) return Results.NotFound();
            await using var db = await contexts.CreateDbContextAsync(http.RequestAborted);
            var format = await db.StoredImages.Where(s => s.Sha256 == sha).Select(s => s.Format).SingleOrDefaultAsync(http.RequestAborted);
            return format is null
                ? Results.NotFound()
                : Serve(http, sha, store.ImagePath(sha, format), format == "png" ? "image/png" : "image/jpeg");
        });
        // Pictures of a run's folder and zip evaluation images (never imported): the bounded preview and its thumbnail.
        var previews = app.MapGroup("/api/runs/{runId:int}/previews");
        previews.MapGet("/{sha}", (int runId, string sha, HttpContext http, Services.Evaluation.EvaluationService evaluations) =>
            Serve(http, sha, ImageStore.IsValidSha(sha) ? evaluations.PreviewsOf(runId).PreviewPath(sha) : null, "image/jpeg"));
        previews.MapGet("/{sha}/thumb", (int runId, string sha, HttpContext http, Services.Evaluation.EvaluationService evaluations) =>
            Serve(http, sha, ImageStore.IsValidSha(sha) ? evaluations.PreviewsOf(runId).ThumbnailPath(sha) : null, "image/jpeg"));
        return app;
    }

    private static IResult Serve(HttpContext http, string sha, string? path, string contentType)
    {
        if (path is null || !File.Exists(path)) return Results.NotFound();
        var etag = new EntityTagHeaderValue($"\"{sha}\"");
        http.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.File(path, contentType, entityTag: etag);
    }
}
