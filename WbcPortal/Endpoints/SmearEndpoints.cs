using System.Text;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Smears;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Review;
using WbcPortal.Services.Smears;

namespace WbcPortal.Endpoints;

/// <summary>A smear batch's images, each cell's window and Grad-CAM, and the report (HTML, CSV, JSON).</summary>
public static class SmearEndpoints
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static IEndpointRouteBuilder MapSmearEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/smears/{job}/report.{format}", (string job, string format, SmearJobs jobs, TimeProvider clock, HttpContext http) =>
        {
            if (jobs.Get(job) is not { Result: not null } found) return Results.NotFound();
            http.Response.Headers.CacheControl = "no-store";
            string stem = $"differential-{ReportEndpoints.SafeStem(found.Model.Name, "model")}-{found.Id}";
            return format switch
            {
                "html" => Results.Content(SmearReport.Html(found, clock.GetUtcNow()), "text/html; charset=utf-8"),
                "csv" => Results.File(Encoding.UTF8.GetBytes(SmearReport.Csv(found)), ReportCsv.ContentType, stem + ".csv"),
                "json" => Results.File(JsonSerializer.SerializeToUtf8Bytes(SmearReport.Json(found), Json), "application/json", stem + ".json"),
                _ => Results.NotFound(),
            };
        }).ExcludeFromDescription();
        app.MapGet("/api/smears/{job}/{index:int}", (string job, int index, SmearJobs jobs, HttpContext http) => ClassifyEndpoints.Uploaded(jobs.ImageBytes(job, index), http))
            .ExcludeFromDescription();
        // The window the model saw of one cell (the smear's region around it, at the model's input size), and on request its Grad-CAM.
        app.MapGet("/api/smears/{job}/{index:int}/cells/{cell:int}/{view}.png", async (string job, int index, int cell, string view, int? @class, SmearJobs jobs,
            ExplainService explain, ImageDecoding decoding, WbcPortal.Options.StorageOptions storage, HttpContext http) =>
        {
            if (view is not ("window" or "gradcam")) return Results.NotFound();
            if (jobs.Get(job) is not { Result: { } result } found || jobs.ImageBytes(job, index) is not { } bytes || index >= result.Images.Count) return Results.NotFound();
            if (found.Cells(index).FirstOrDefault(c => c.Id == cell) is not { } target) return Results.NotFound();
            try
            {
                string path = Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, found.Model.Path));
                if (!File.Exists(path)) throw new ArgumentException("The model's file is missing, so its window cannot be drawn.");
                var metadata = PredictionService.ReadMetadata(path);
                var smear = result.Images[index];
                byte[] window = await Task.Run(() =>
                {
                    using var image = decoding.DecodeRgb(bytes, WbcPortal.Engine.Imaging.DecodeWait.Bounded, http.RequestAborted);
                    var region = SmearWindow.Region(image.Width, image.Height, target.CenterX, target.CenterY, smear.ViewHeight > 1 ? smear.ViewHeight : image.Height,
                        metadata.InputWidth, metadata.InputHeight);
                    using var crop = image.Clone(c => c.Crop(region).Resize(metadata.InputWidth, metadata.InputHeight));
                    using var ms = new MemoryStream();
                    crop.SaveAsPng(ms);
                    return ms.ToArray();
                });
                byte[]? png = window;
                if (view == "gradcam")
                {
                    if (found.Model.RunId is not { } runId)
                        throw new ArgumentException("This model was not trained in this portal: there is no network to explain, only its window.");
                    png = await explain.RenderAsync(runId, window, @class, ExplainView.GradCam, http.RequestAborted, isWindow: true)
                        ?? throw new ArgumentException("The model's run is no longer stored.");
                }
                http.Response.Headers.CacheControl = "private, max-age=600";
                return Results.File(png, "image/png");
            }
            catch (ExplainRequestException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "No such class", detail: ex.Message);
            }
            catch (WbcPortal.Engine.Imaging.DecodeBudgetBusyException ex)
            {
                return ApiV1Endpoints.Busy(http, ex);
            }
            catch (ArgumentException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "This cell cannot be explained", detail: ex.Message);
            }
        }).ExcludeFromDescription();
        return app;
    }
}
