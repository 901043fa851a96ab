using System.Text;
using System.Text.Json;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Services.Evaluation;

namespace WbcPortal.Endpoints;

/// <summary>A run's report as downloads: the document as JSON, its tables as CSV, and one self-contained HTML file.</summary>
public static class ReportEndpoints
{
    private static readonly JsonSerializerOptions Json = new(EvaluationService.Json) { WriteIndented = true };

    public static IEndpointRouteBuilder MapReportEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/runs/{runId:int}");
        group.MapGet("/report.json", (int runId, RunReportQueries queries, HttpContext http) =>
            Serve(runId, queries, http, "json", "application/json; charset=utf-8", d => JsonSerializer.Serialize(d, Json)));
        group.MapGet("/report.csv", (int runId, RunReportQueries queries, HttpContext http) =>
            Serve(runId, queries, http, "csv", ReportCsv.ContentType, ReportCsv.Write));
        group.MapGet("/report.html", (int runId, RunReportQueries queries, HttpContext http) =>
            Serve(runId, queries, http, "html", ReportHtml.ContentType, ReportHtml.Write));
        return app;
    }

    private static async Task<IResult> Serve(int runId, RunReportQueries queries, HttpContext http, string extension, string contentType, Func<RunReportDocument, string> write)
    {
        var document = await queries.GetDocumentAsync(runId, http.RequestAborted);
        if (document is null) return Results.NotFound();
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.CacheControl = "no-store";
        return Results.File(Encoding.UTF8.GetBytes(write(document)), contentType, FileName(document.RunName, extension));
    }

    /// <summary>"<c>RUN-report.EXT</c>" with anything but letters, digits, dot, dash and underscore replaced.</summary>
    public static string FileName(string runName, string extension)
    {
        var safe = new string(runName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '-').ToArray()).Trim('.', '-');
        return $"{(safe.Length == 0 ? "run" : safe)}-report.{extension}";
    }
}
