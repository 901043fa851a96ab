using System.Globalization;
using System.Net;
using System.Text;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Engine.Smears;

namespace WbcPortal.Services.Smears;

/// <summary>
/// A smear batch's report as it stands (corrections applied): the differential count with exact 95 % intervals, every cell,
/// and the record of corrections. HTML to print and sign, CSV (one row per cell) and JSON (the API's document plus the record).
/// All three read <see cref="SmearJob.Count"/> and <see cref="SmearJob.Cells"/>, as the page does.
/// </summary>
public static class SmearReport
{
    private static string F(double v, string format = "0.0") => v.ToString(format, CultureInfo.InvariantCulture);

    public static string Csv(SmearJob job)
    {
        var batch = job.Current() ?? throw new InvalidOperationException("The batch has no cells yet.");
        var csv = new StringBuilder();
        void Row(IEnumerable<string> cells) => csv.Append(string.Join(",", cells.Select(ReportCsv.Escape))).Append("\r\n");
        Row(new[] { "file", "cell", "xmin", "ymin", "xmax", "ymax", "label", "confidence", "guess", "edge", "corrected", "model_label" }.Concat(batch.Labels.Select(l => $"p_{l}")).Append("error"));
        foreach (var image in batch.Images)
        {
            if (image.Error is not null) { Row(new[] { image.File }.Concat(Enumerable.Repeat("", 11 + batch.Labels.Count)).Append(image.Error)); continue; }
            foreach (var c in image.Cells)
                Row(new[] { image.File, c.Id.ToString(CultureInfo.InvariantCulture) }.Concat(c.Box.Select(v => v.ToString(CultureInfo.InvariantCulture)))
                    .Concat([c.Label, F(c.Confidence, "0.0000"), c.Guess ?? "", c.Edge ? "yes" : "no", c.Corrected ? "yes" : "no", c.ModelLabel ?? ""])
                    .Concat(batch.Labels.Select((_, k) => k < c.Probabilities.Count ? F(c.Probabilities[k], "0.0000") : "")).Append(""));
        }
        return csv.ToString();
    }

    public static object Json(SmearJob job)
    {
        var batch = job.Current() ?? throw new InvalidOperationException("The batch has no cells yet.");
        var count = job.Count();
        return new
        {
            batch = job.Id,
            startedAt = job.StartedAt,
            document = Endpoints.ApiV1Endpoints.ToSmearResponse(batch),
            corrections = job.Corrections,
            differential = count,
        };
    }

    public static string Html(SmearJob job, DateTimeOffset now)
    {
        var batch = job.Current() ?? throw new InvalidOperationException("The batch has no cells yet.");
        var count = job.Count();
        static string E(string s) => WebUtility.HtmlEncode(s);
        var h = new StringBuilder();
        h.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Differential count ").Append(E(job.Id)).Append("</title><style>")
         .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}")
         .Append("td.n{text-align:right}h1{font-size:20px}h2{font-size:16px;margin-top:20px}.note{color:#555;font-size:12px}.sign{margin-top:32px}.bar{background:#5e35b1;height:10px;display:inline-block}")
         .Append("@media print{.noprint{display:none}}</style></head><body>");
        h.Append("<h1>White-cell differential count</h1>");
        h.Append("<p>Batch <b>").Append(E(job.Id)).Append("</b>, ").Append(batch.Images.Count(i => i.Error is null)).Append(" smear image(s), read ")
         .Append(E(job.StartedAt.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))).Append(" with model <b>").Append(E(job.Model.Name)).Append("</b>")
         .Append(batch.RejectThreshold > 0 ? $" (Unidentified under p {F(batch.RejectThreshold, "0.000")})" : "").Append(". Report made ")
         .Append(E(now.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))).Append(".</p>");
        int corrections = job.Corrections.Count(c => c.UndoneAt is null);
        h.Append("<p>").Append(count.Cells).Append(" white cells found, ").Append(count.Identified).Append(" identified, ").Append(count.Unidentified).Append(" unidentified, ")
         .Append(count.EdgeCells).Append(" cut by the image border (counted). ").Append(corrections == 0 ? "No correction by a reviewer." : $"{corrections} correction(s) by {E(string.Join(", ", job.Corrections.Where(c => c.UndoneAt is null).Select(c => c.Reviewer).Distinct()))}.").Append("</p>");
        h.Append("<table><tr><th>Class</th><th>Cells</th><th>%</th><th>95 % interval</th><th></th></tr>");
        foreach (var c in count.Classes)
            h.Append("<tr><td>").Append(E(c.Label)).Append("</td><td class=\"n\">").Append(c.Count).Append("</td><td class=\"n\">").Append(F(c.Percent)).Append("</td><td class=\"n\">")
             .Append(F(c.LowPercent)).Append("–").Append(F(c.HighPercent)).Append("</td><td><span class=\"bar\" style=\"width:").Append(F(2 * c.Percent)).Append("px\"></span></td></tr>");
        h.Append("<tr><td>Unidentified</td><td class=\"n\">").Append(count.Unidentified).Append("</td><td colspan=\"3\">not in the percentages</td></tr></table>");
        h.Append("<p class=\"note\">Percentages are of the identified cells; each interval is the exact (Clopper-Pearson) 95 % binomial interval, as the tables for a manual differential give it. ")
         .Append("With few cells the intervals are wide: a 100-cell differential reads a 10 % class as about 5–18 %.</p>");
        h.Append("<h2>Cells by smear</h2><table><tr><th>Smear</th><th>Cell</th><th>Box (x0, y0, x1, y1)</th><th>Class</th><th>Confidence</th><th>Note</th></tr>");
        foreach (var image in batch.Images)
        {
            if (image.Error is not null) { h.Append("<tr><td>").Append(E(image.File)).Append("</td><td colspan=\"5\">not read: ").Append(E(image.Error)).Append("</td></tr>"); continue; }
            if (image.Cells.Count == 0) { h.Append("<tr><td>").Append(E(image.File)).Append("</td><td colspan=\"5\">no white cell found</td></tr>"); continue; }
            foreach (var c in image.Cells)
            {
                var notes = new List<string>();
                if (c.Guess is not null) notes.Add($"guess {c.Guess}");
                if (c.Edge) notes.Add("cut by the border");
                if (c.Corrected) notes.Add(c.ModelLabel is null ? "added by a reviewer" : $"corrected (model: {c.ModelLabel})");
                if (image.SingleCellCrop) notes.Add("single-cell image");
                h.Append("<tr><td>").Append(E(image.File)).Append("</td><td class=\"n\">").Append(c.Id).Append("</td><td>").Append(string.Join(", ", c.Box)).Append("</td><td>")
                 .Append(E(c.Label)).Append("</td><td class=\"n\">").Append(c.ModelLabel is null ? "" : F(c.Confidence, "0.00")).Append("</td><td>").Append(E(string.Join("; ", notes))).Append("</td></tr>");
            }
        }
        h.Append("</table>");
        if (job.Corrections.Count > 0)
        {
            h.Append("<h2>Record of corrections</h2><table><tr><th>#</th><th>Smear</th><th>Cell</th><th>Change</th><th>Who</th><th>When</th><th>Undone</th></tr>");
            foreach (var c in job.Corrections)
                h.Append("<tr><td>").Append(c.Sequence).Append("</td><td>").Append(E(batch.Images[c.Image].File)).Append("</td><td>").Append(c.Cell).Append("</td><td>")
                 .Append(E(c.Kind + (c.Label is null ? "" : $" → {c.Label}") + (c.Box is null ? "" : $" [{string.Join(", ", c.Box)}]"))).Append("</td><td>").Append(E(c.Reviewer)).Append("</td><td>")
                 .Append(E(c.At.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))).Append("</td><td>")
                 .Append(c.UndoneAt is { } u ? E($"{u.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} by {c.UndoneBy}") : "").Append("</td></tr>");
            h.Append("</table>");
        }
        h.Append("<p class=\"sign\">Verified by: ______________________ &nbsp; Date: ____________</p>");
        h.Append("<p class=\"noprint\"><button onclick=\"window.print()\">Print</button></p></body></html>");
        return h.ToString();
    }
}
