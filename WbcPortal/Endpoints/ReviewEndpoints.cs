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
        return app;
    }
}
