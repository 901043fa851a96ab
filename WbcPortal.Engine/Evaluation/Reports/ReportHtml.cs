using System.Globalization;
using System.Net;
using System.Text;

namespace WbcPortal.Engine.Evaluation.Reports;

/// <summary>
/// A run report as ONE self-contained HTML file: inline styles, charts drawn as inline SVG, no script, font, image or
/// link outside the file (a Content-Security-Policy forbids them too), every text HTML-encoded. It opens offline,
/// can be mailed or archived with a study, and shows the same figures as the dashboard.
/// </summary>
public static class ReportHtml
{
    public const string ContentType = "text/html; charset=utf-8";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private const string Style = """
        body{font-family:system-ui,-apple-system,"Segoe UI","DejaVu Sans",Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222;line-height:1.4}
        h1{margin-bottom:4px}h2{border-bottom:2px solid #7b1fa2;padding-bottom:4px;margin-top:32px}h3{margin-top:28px}
        table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
        th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}
        thead th{border-bottom:2px solid #999}tr.avg td{color:#444}tr.first td{border-top:2px solid #999}
        .facts td,.facts th{text-align:left}.muted{color:#666;font-size:.9em}.warn{background:#fff4e5;border-left:4px solid #ed6c02;padding:.5em .8em}
        .charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
        .chart{max-width:100%;height:auto;background:#fff;border:1px solid #e3e3e3;border-radius:4px}
        .chart .t{font-size:14px;font-weight:600;fill:#222}.chart .s{font-size:11px;fill:#444}.chart .v{font-size:12px}
        .chart .grid{stroke:#eee}.chart .divider{stroke:#888;stroke-dasharray:4 3}
        pre{background:#f6f6f6;padding:12px;overflow:auto;font-size:.85em}
        """;

    public static string Write(RunReportDocument document)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
        html.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.Append(Inv, $"<title>Run report: {E(document.RunName)}</title><style>{Style}</style></head><body>");

        html.Append(Inv, $"<h1>Run report: {E(document.RunName)}</h1>");
        html.Append(Inv, $"<p class=\"muted\">Generated {E(document.GeneratedAt.ToString("yyyy-MM-dd HH:mm 'UTC'", Inv))}{(document.Generator is null ? "" : " by " + E(document.Generator))}. Intervals are 95% Wilson score intervals.</p>");
        if (document.SplitHonesty is { LeakFree: false } warning)
        {
            html.Append(Inv, $"<p class=\"warn\" data-honesty=\"{E(warning.Status)}\"><b>Split {E(document.Split)}: {E(warning.Label)}.</b> {E(warning.Detail)}</p>");
        }
        html.Append("<table class=\"facts\"><tbody>");
        Fact(html, "Split", document.Split);
        Fact(html, "Split honesty", document.SplitHonesty is { } honesty ? honesty.Label : "not recorded");
        Fact(html, "Originals per part", document.SplitOriginals is { Count: > 0 } originals
            ? string.Join(" · ", originals.Select(p => string.Create(Inv, $"{p.Key} {p.Value}")))
            : "– (no source groups per part)");
        Fact(html, "Status", document.Status);
        Fact(html, "Device", document.Device ?? "–");
        Fact(html, "Training time", TimeSpan.FromSeconds(document.Seconds).ToString(@"h\:mm\:ss", Inv));
        Fact(html, "Created", document.CreatedAt.ToString("yyyy-MM-dd HH:mm 'UTC'", Inv));
        Fact(html, "Mean training speed", document.MeanImagesPerSecond is { } ips
            ? ips.ToString("0.0", Inv) + " img/s over all epochs (" + string.Join(", ", document.Epochs.GroupBy(e => e.Round).OrderBy(g => g.Key)
                .Select(g => string.Create(Inv, $"round {g.Key}: {g.Average(e => e.ImagesPerSecond):0.0}"))) + ")"
            : "–");
        Fact(html, "Calibration temperature", document.Temperature is { } t ? t.ToString("0.000", Inv) : "–");
        html.Append("</tbody></table>");

        WriteTraining(html, document);

        html.Append("<h2>Exported model</h2>");
        if (document.Evaluations.Count == 0) html.Append("<p>The exported model has not been evaluated.</p>");
        foreach (var evaluation in document.Evaluations) WriteEvaluation(html, evaluation);
        if (document.Predictions is { } predictions) WritePredictions(html, predictions);

        html.Append("<h2>Configuration</h2>");
        html.Append(Inv, $"<pre>{E(document.ConfigJson)}</pre>");
        html.Append("</body></html>");
        return html.ToString();
    }

    private static void WriteTraining(StringBuilder html, RunReportDocument document)
    {
        html.Append("<h2>Training</h2>");
        if (document.Rounds.Count > 0)
        {
            html.Append("<table><thead><tr><th>Stage</th><th>Validation accuracy</th><th>Test accuracy</th><th>Test macro-F1</th></tr></thead><tbody>");
            foreach (var r in document.Rounds)
            {
                html.Append(Inv, $"<tr><td>{E(r.Name)}</td><td>{Percent(r.ValAccuracy)}</td><td>{Percent(r.TestAccuracy)}</td><td>{(r.TestMacroF1 is { } f ? f.ToString("0.000", Inv) : "–")}</td></tr>");
            }
            html.Append("</tbody></table>");
        }
        if (document.Epochs.Count == 0)
        {
            html.Append("<p>No epoch has finished.</p>");
            return;
        }
        int firstRound2 = document.Epochs.Select((e, i) => (e, i)).FirstOrDefault(x => x.e.Round == 2).i + 1;
        int? roundBreak = document.Epochs.Any(e => e.Round == 1) && document.Epochs.Any(e => e.Round == 2) ? firstRound2 : null;
        html.Append("<div class=\"charts\">");
        html.Append(SvgCharts.LineChart("Loss", [
            new SvgSeries("train", "#7b1fa2", document.Epochs.Select(e => e.TrainLoss).ToList()),
            new SvgSeries("validation", "#00897b", document.Epochs.Select(e => e.ValLoss).ToList())], roundBreak));
        html.Append(SvgCharts.LineChart("Accuracy", [
            new SvgSeries("train", "#7b1fa2", document.Epochs.Select(e => e.TrainAccuracy).ToList()),
            new SvgSeries("validation", "#00897b", document.Epochs.Select(e => e.ValAccuracy).ToList())], roundBreak, yMax: 1));
        html.Append("</div>");
        html.Append("<table><thead><tr><th>Round</th><th>Epoch</th><th>Train loss</th><th>Train acc</th><th>Val loss</th><th>Val acc</th><th>Learning rate</th><th>img/s</th><th>Seconds</th></tr></thead><tbody>");
        foreach (var e in document.Epochs)
        {
            html.Append(Inv, $"<tr><td>{e.Round}</td><td>{e.Epoch}</td><td>{e.TrainLoss:0.0000}</td><td>{e.TrainAccuracy:0.0000}</td><td>{e.ValLoss:0.0000}</td><td>{e.ValAccuracy:0.0000}</td><td>{e.LearningRate:0.######}</td><td>{e.ImagesPerSecond:0.0}</td><td>{e.Seconds:0.0}</td></tr>");
        }
        html.Append("</tbody></table>");
    }

    private static void WriteEvaluation(StringBuilder html, RunReportEvaluation evaluation)
    {
        var r = evaluation.Report;
        html.Append(Inv, $"<h3>{E(evaluation.Source)}</h3>");
        html.Append(Inv, $"<p class=\"muted\">{r.Total} images{(evaluation.CreatedAt is { } at ? ", evaluated " + E(at.ToString("yyyy-MM-dd HH:mm 'UTC'", Inv)) : "")}. Probabilities at temperature {r.Temperature:0.000}; ECE {r.Uncalibrated.Ece:0.000} before → {r.Calibrated.Ece:0.000} after temperature scaling; after scaling the model is {r.Calibrated.MeanConfidence:P1} sure on average and right {r.Accuracy:P1} of the time.</p>");
        if (r.Coverage is { Threshold: > 0 } coverage)
        {
            var point = coverage.AtThreshold;
            html.Append(Inv, $"<p class=\"muted\">Under p {coverage.Threshold:0.000} the model answers “Unidentified”: it decides {point.Coverage:P1} of these images ({point.Total - point.Decided} unidentified) and is right on {point.Accuracy:P1} of those.</p>");
        }
        html.Append("<table class=\"report\"><caption class=\"muted\">Classification report (95% Wilson score intervals)</caption>");
        html.Append("<thead><tr><th>class</th><th>precision</th><th>recall</th><th>recall 95% CI</th><th>f1-score</th><th>support</th></tr></thead><tbody>");
        foreach (var c in r.PerClass)
        {
            html.Append(Inv, $"<tr><td>{E(c.Label)}</td><td>{c.Precision:0.000}</td><td>{c.Recall:0.000}</td><td>{(c.Support == 0 ? "–" : string.Create(Inv, $"{c.RecallCi.Low:0.000}–{c.RecallCi.High:0.000}"))}</td><td>{c.F1:0.000}</td><td>{c.Support}</td></tr>");
        }
        html.Append(Inv, $"<tr class=\"first\"><td>accuracy</td><td></td><td></td><td>{r.AccuracyCi.Low:0.000}–{r.AccuracyCi.High:0.000}</td><td>{r.Accuracy:0.000}</td><td>{r.Total}</td></tr>");
        html.Append(Inv, $"<tr class=\"avg\"><td>macro avg</td><td>{r.MacroPrecision:0.000}</td><td>{r.MacroRecall:0.000}</td><td></td><td>{r.MacroF1:0.000}</td><td>{r.Total}</td></tr>");
        html.Append(Inv, $"<tr class=\"avg\"><td>weighted avg</td><td>{r.WeightedPrecision:0.000}</td><td>{r.WeightedRecall:0.000}</td><td></td><td>{r.WeightedF1:0.000}</td><td>{r.Total}</td></tr>");
        html.Append("</tbody></table>");
        if (r.ByOriginal is { } o)
        {
            html.Append(Inv, $"<p data-originals>These images are augmented copies of {o.Originals} originals. Counted by original (cluster bootstrap over originals, {OriginalsReport.Resamples} draws), accuracy 95% CI {o.AccuracyCi.Low:0.000}–{o.AccuracyCi.High:0.000}, calibrated ECE {o.EceCi.Low:0.000}–{o.EceCi.High:0.000}; recall 95% CI ");
            html.Append(E(string.Join(", ", r.Labels.Select((l, i) => o.OriginalsPerClass[i] == 0 ? $"{l} –" : string.Create(Inv, $"{l} {o.RecallCi[i].Low:0.000}–{o.RecallCi[i].High:0.000}")))));
            html.Append(Inv, $". {o.Mistaken.Count} originals have errors; the worst five hold {100 * o.TopFiveErrorShare:0}% of them.</p>");
        }
        html.Append("<div class=\"charts\">");
        html.Append(SvgCharts.Heatmap("Confusion matrix (counts)", r.Labels, r.Confusion, normalised: false));
        html.Append(SvgCharts.Heatmap("Confusion matrix (% of each actual class)", r.Labels, r.Confusion, normalised: true));
        html.Append(SvgCharts.ReliabilityDiagram("Reliability", r.Uncalibrated, r.Calibrated));
        html.Append("</div>");
    }

    /// <summary>Every image of one evaluation, mistakes first, in a table a reader opens (a thousand rows stay out of the way).</summary>
    private static void WritePredictions(StringBuilder html, RunReportPredictions predictions)
    {
        int wrong = predictions.Images.Count(p => !p.Correct), unidentified = predictions.Images.Count(p => p.Unidentified);
        html.Append(Inv, $"<h3>Per-image predictions: {E(predictions.Source)}</h3>");
        html.Append(Inv, $"<details data-predictions><summary>{predictions.Images.Count} images, {wrong} guessed wrong, {unidentified} Unidentified (calibrated p under {predictions.RejectThreshold:0.000}); mistakes first</summary>");
        html.Append("<table class=\"report\"><thead><tr><th>image</th><th>original</th><th>label</th><th>called</th>");
        foreach (var label in predictions.Labels) html.Append(Inv, $"<th>p {E(label)}</th>");
        html.Append("</tr></thead><tbody>");
        foreach (var p in predictions.Images.OrderBy(p => p.Correct).ThenBy(p => p.Image, StringComparer.Ordinal))
        {
            string called = p.Unidentified ? $"Unidentified (guess {p.Guess})" : p.Called;
            html.Append(Inv, $"<tr{(p.Correct ? "" : " class=\"wrong\"")}><td>{E(p.Image)}</td><td>{(p.Original is { } o ? o.ToString(Inv) : "–")}</td><td>{E(p.Label)}</td><td>{E(called)}</td>");
            foreach (var v in p.Probabilities) html.Append(Inv, $"<td>{v:0.000}</td>");
            html.Append("</tr>");
        }
        html.Append("</tbody></table></details>");
    }

    private static void Fact(StringBuilder html, string name, string value) =>
        html.Append(Inv, $"<tr><th>{E(name)}</th><td>{E(value)}</td></tr>");

    private static string Percent(double? value) => value is { } v ? (100 * v).ToString("0.0", Inv) + "%" : "–";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
