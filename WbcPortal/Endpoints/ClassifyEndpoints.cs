using System.Text;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Services.Classify;

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
        app.MapGet("/api/classify/{job}/{index:int}", (string job, int index, ClassifyJobs jobs, HttpContext http) =>
        {
            if (jobs.Get(job) is not { } found || index < 0 || index >= found.Inputs.Count) return Results.NotFound();
            var bytes = found.Inputs[index].Bytes;
            // Only images that decoded are shown; the type is read from the bytes, never from the name.
            string? type = bytes is [0x89, 0x50, 0x4E, 0x47, ..] ? "image/png" : bytes is [0xFF, 0xD8, ..] ? "image/jpeg" : null;
            if (type is null) return Results.NotFound();
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers.CacheControl = "private, max-age=3600";
            return Results.File(bytes, type);
        }).ExcludeFromDescription();
        return app;
    }
}
