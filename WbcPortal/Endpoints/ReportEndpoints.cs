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
        // One evaluation's every image: given label, answer (or Unidentified), probabilities, original.
        group.MapGet("/evaluations/{evaluationId:int}/predictions.{format}", async (int runId, int evaluationId, string format, RunReportQueries queries, HttpContext http) =>
        {
            if (format is not ("csv" or "json")) return Results.NotFound();
            var predictions = await queries.GetPredictionsAsync(runId, evaluationId, http.RequestAborted);
            if (predictions is null) return Results.NotFound();
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers.CacheControl = "no-store";
            string runName = await queries.RunNameAsync(runId, http.RequestAborted) ?? "run";
            string name = $"{SafeStem(runName, "run")}-{SafeStem(predictions.Source, "evaluation")}-predictions.{format}";
            return format == "csv"
                ? Results.File(Encoding.UTF8.GetBytes(ReportCsv.WritePredictions(predictions)), ReportCsv.ContentType, name)
                : Results.File(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(predictions, Json)), "application/json; charset=utf-8", name);
        });
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

    /// <summary>"<c>RUN-report.EXT</c>" with each run of characters other than ASCII letters, digits, dot, dash and underscore made one dash.</summary>
    public static string FileName(string runName, string extension) => $"{SafeStem(runName, "run")}-report.{extension}";

    /// <summary>A name made safe for a download's file name: each run of other characters than ASCII letters, digits, dot, dash and underscore is one dash.</summary>
    public static string SafeStem(string name, string fallback)
    {
        var safe = new StringBuilder();
        foreach (char c in name)
        {
            bool keep = char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_';
            if (keep) safe.Append(c);
            else if (safe.Length > 0 && safe[^1] != '-') safe.Append('-');
        }
        string stem = safe.ToString().Trim('.', '-');
        return stem.Length == 0 ? fallback : stem;
    }
}
