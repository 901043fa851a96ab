using Microsoft.EntityFrameworkCore;
using Microsoft.Net.Http.Headers;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Exploration;
using WbcPortal.Storage;

namespace WbcPortal.Endpoints;

/// <summary>
/// Derived views of a stored image for the Explore area: grayscale, or the binary mask of the pixels
/// darker than a level. A view is a pure function of the content hash, the mode and the level, so it
/// is cached as immutable like the image itself. Views come from a bounded, stored rendition
/// (<see cref="ImageViewRenditions"/>), never from a full decode per request.
/// </summary>
public static class ImageViewEndpoints
{
    public static IEndpointRouteBuilder MapImageViewEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/images/{sha}/view", async (string sha, string? mode, int? level, HttpContext http, ImageStore store, ImageViewRenditions renditions, IDbContextFactory<WbcDbContext> contexts) =>
        {
            if (!ImageStore.IsValidSha(sha)) return Results.NotFound();
            mode ??= "gray";
            if (mode is not ("gray" or "threshold")) return Results.BadRequest("mode is gray or threshold.");
            int threshold = level ?? 150;
            if (threshold is < 0 or > 255) return Results.BadRequest("level is 0 to 255.");

            var etag = new EntityTagHeaderValue(mode == "gray" ? $"\"{sha}-gray\"" : $"\"{sha}-t{threshold}\"");
            if (http.Request.Headers.IfNoneMatch.ToString().Contains(etag.Tag.ToString(), StringComparison.Ordinal))
            {
                SetCaching(http, etag);
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }

            await using var db = await contexts.CreateDbContextAsync(http.RequestAborted);
            var format = await db.StoredImages.Where(s => s.Sha256 == sha).Select(s => s.Format).SingleOrDefaultAsync(http.RequestAborted);
            if (format is null) return Results.NotFound();
            if (!File.Exists(store.ImagePath(sha, format))) return Results.NotFound();

            try
            {
                if (mode == "gray")
                {
                    var path = await renditions.LumaAsync(sha, format, http.RequestAborted);
                    SetCaching(http, etag);
                    return Results.File(path, "image/png");
                }
                var mask = await renditions.ThresholdAsync(sha, format, threshold, http.RequestAborted);
                SetCaching(http, etag);
                return Results.Bytes(mask, "image/png");
            }
            catch (ImageRejectedException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "The stored image cannot be rendered", detail: ex.Message);
            }
        });
        return app;
    }

    private static void SetCaching(HttpContext http, EntityTagHeaderValue etag)
    {
        http.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        http.Response.Headers.ETag = etag.ToString();
        http.Response.Headers.XContentTypeOptions = "nosniff";
    }
}
