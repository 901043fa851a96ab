using System.Text;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Services.Review;

namespace WbcPortal.Endpoints;

/// <summary>The review decisions of a dataset as a CSV download (who decided what, when, on which images; undone ones marked).</summary>
public static class ReviewEndpoints
{
    public static IEndpointRouteBuilder MapReviewEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/datasets/{datasetId:int}/review-decisions.csv", async (int datasetId, ReviewService review, HttpContext http) =>
        {
            var export = await review.DecisionsCsvAsync(datasetId, http.RequestAborted);
            if (export is not { } csv) return Results.NotFound();
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers.CacheControl = "no-store";
            return Results.File(Encoding.UTF8.GetBytes(csv.Csv), ReportCsv.ContentType, $"{ReportEndpoints.SafeStem(csv.DatasetName, "dataset")}-review-decisions.csv");
        });
        // The window a run's model sees of a dataset image, or with the Grad-CAM map of a class (default: the predicted one) over it.
        app.MapGet("/api/runs/{runId:int}/explain/{imageId:int}.png", async (int runId, int imageId, string? view, int? @class, ExplainService explain, HttpContext http) =>
        {
            var kind = view switch { null or "gradcam" => ExplainView.GradCam, "window" => ExplainView.Window, _ => (ExplainView?)null };
            if (kind is null) return Results.BadRequest("view is gradcam or window.");
            try
            {
                var png = await explain.RenderAsync(runId, imageId, @class, kind.Value, http.RequestAborted);
                if (png is null) return Results.NotFound();
                http.Response.Headers.CacheControl = "private, max-age=3600";
                http.Response.Headers.XContentTypeOptions = "nosniff";
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
        });
        return app;
    }
}
