using System.Text;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Review;

namespace WbcPortal.Endpoints;

/// <summary>A Classify batch's images (thumbnails on the page) and its answers as CSV.</summary>
public static class ClassifyEndpoints
{
    public static IEndpointRouteBuilder MapClassifyEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/classify/{job}.csv", (string job, ClassifyJobs jobs, HttpContext http) =>
        {
            if (jobs.Get(job) is not { Result: not null } found) return Results.NotFound();
            http.Response.Headers.CacheControl = "no-store";
            return Results.File(Encoding.UTF8.GetBytes(ClassifyJobs.Csv(found)), ReportCsv.ContentType, $"classify-{ReportEndpoints.SafeStem(found.Model.Name, "model")}-{found.Id}.csv");
        }).ExcludeFromDescription();
        app.MapGet("/api/classify/{job}/{index:int}", (string job, int index, ClassifyJobs jobs, HttpContext http) => Uploaded(jobs.ImageBytes(job, index), http))
            .ExcludeFromDescription();
        // The window the model saw of an uploaded image, and on request its Grad-CAM (a run of this portal only: it needs the network's weights).
        app.MapGet("/api/classify/{job}/{index:int}/{view}.png", async (string job, int index, string view, int? @class, ClassifyJobs jobs, ExplainService explain,
            WbcPortal.Options.StorageOptions storage, HttpContext http) =>
        {
            if (view is not ("window" or "gradcam")) return Results.NotFound();
            if (jobs.Get(job) is not { } found || jobs.ImageBytes(job, index) is not { } bytes) return Results.NotFound();
            try
            {
                byte[]? png;
                if (view == "window")
                {
                    string path = Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, found.Model.Path));
                    if (!File.Exists(path)) throw new ArgumentException("The model's file is missing, so its window cannot be drawn.");
                    png = await explain.RenderWindowAsync(bytes, PredictionService.ReadMetadata(path), http.RequestAborted);
                }
                else
                {
                    if (found.Model.RunId is not { } runId)
                        throw new ArgumentException("This model was not trained in this portal: there is no network to explain, only its window.");
                    png = await explain.RenderAsync(runId, bytes, @class, ExplainView.GradCam, http.RequestAborted);
                    if (png is null) throw new ArgumentException("The model's run is no longer stored.");
                }
                http.Response.Headers.CacheControl = "private, max-age=3600";
                return Results.File(png, "image/png");
            }
            catch (ExplainRequestException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "No such class", detail: ex.Message);
            }
            catch (ArgumentException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "This image cannot be explained", detail: ex.Message);
            }
        }).ExcludeFromDescription();
        return app;
    }

    /// <summary>An uploaded image as stored, served as what its bytes say it is (PNG or JPEG, never from its name), or 404.</summary>
    public static IResult Uploaded(byte[]? bytes, HttpContext http)
    {
        string? type = bytes is [0x89, 0x50, 0x4E, 0x47, ..] ? "image/png" : bytes is [0xFF, 0xD8, ..] ? "image/jpeg" : null;
        if (bytes is null || type is null) return Results.NotFound();
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.CacheControl = "private, max-age=3600";
        return Results.File(bytes, type);
    }
}
