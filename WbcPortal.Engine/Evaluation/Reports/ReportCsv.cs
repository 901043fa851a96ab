using System.Globalization;
using System.Text;

namespace WbcPortal.Engine.Evaluation.Reports;

/// <summary>
/// A run report as CSV (RFC 4180, invariant culture, decimal points): the run's facts, then per model evaluation a
/// classification report section (per class, accuracy, macro and weighted averages, as scikit-learn prints it, with
/// 95 % Wilson intervals) and a confusion-matrix section (rows actual, columns predicted). Sections are separated by
/// an empty line and start with a <c>section</c> row. Text cells that a spreadsheet would run as a formula are
/// prefixed with an apostrophe.
/// </summary>
public static class ReportCsv
{
    public const string ContentType = "text/csv; charset=utf-8";

    public static string Write(RunReportDocument document)
    {
        var csv = new StringBuilder();
        Row(csv, "section", "run");
        Row(csv, "name", document.RunName);
        Row(csv, "split", document.Split);
        Row(csv, "split_honesty", document.SplitHonesty?.Status ?? "");
        Row(csv, "split_leak_free", document.SplitHonesty is { LeakFree: true } ? "true" : "false");
        Row(csv, "split_honesty_detail", document.SplitHonesty?.Detail ?? "");
        foreach (var (part, originals) in document.SplitOriginals ?? new Dictionary<string, int>()) Row(csv, $"split_originals_{part}", originals.ToString(CultureInfo.InvariantCulture));
        Row(csv, "status", document.Status);
        Row(csv, "device", document.Device ?? "");
        Row(csv, "seconds", Number(document.Seconds, "0.0"));
        Row(csv, "created", document.CreatedAt.ToString("O", CultureInfo.InvariantCulture));
        Row(csv, "temperature", document.Temperature is { } t ? Number(t) : "");
        Row(csv, "mean_images_per_second", document.MeanImagesPerSecond is { } ips ? Number(ips, "0.0") : "");

        if (document.Rounds.Count > 0)
        {
            csv.Append("\r\n");
            Row(csv, "section", "rounds");
            Row(csv, "stage", "val_accuracy", "test_accuracy", "test_macro_f1");
            foreach (var r in document.Rounds) Row(csv, r.Stage, Optional(r.ValAccuracy), Optional(r.TestAccuracy), Optional(r.TestMacroF1));
        }

        foreach (var evaluation in document.Evaluations)
        {
            var report = evaluation.Report;
            csv.Append("\r\n");
            Row(csv, "section", "classification report", evaluation.Source);
            Row(csv, "images", report.Total.ToString(CultureInfo.InvariantCulture));
            Row(csv, "temperature", Number(report.Temperature));
            Row(csv, "ece_uncalibrated", Number(report.Uncalibrated.Ece));
            Row(csv, "ece_calibrated", Number(report.Calibrated.Ece));
            if (report.Coverage is { } coverage)
            {
                // Under the threshold the model answers "Unidentified"; coverage is the share it decides, accuracy_decided its accuracy on those.
                Row(csv, "reject_threshold", Number(coverage.Threshold));
                Row(csv, "coverage", Number(coverage.AtThreshold.Coverage));
                Row(csv, "accuracy_decided", Number(coverage.AtThreshold.Accuracy));
                Row(csv, "unidentified", Int(coverage.AtThreshold.Total - coverage.AtThreshold.Decided));
            }
            // ci95_low/high: the Wilson score interval of recall (class rows) or of accuracy (accuracy row).
            Row(csv, "class", "precision", "recall", "f1", "support", "ci95_low", "ci95_high");
            foreach (var c in report.PerClass)
            {
                Row(csv, c.Label, Number(c.Precision), Number(c.Recall), Number(c.F1), Int(c.Support), Number(c.RecallCi.Low), Number(c.RecallCi.High));
            }
            Row(csv, "accuracy", "", "", Number(report.Accuracy), Int(report.Total), Number(report.AccuracyCi.Low), Number(report.AccuracyCi.High));
            Row(csv, "macro avg", Number(report.MacroPrecision), Number(report.MacroRecall), Number(report.MacroF1), Int(report.Total), "", "");
            Row(csv, "weighted avg", Number(report.WeightedPrecision), Number(report.WeightedRecall), Number(report.WeightedF1), Int(report.Total), "", "");

            csv.Append("\r\n");
            Row(csv, "section", "confusion matrix", evaluation.Source);
            Row(csv, ["actual \\ predicted", .. report.Labels]);
            for (int r = 0; r < report.Labels.Count; r++)
            {
                Row(csv, [report.Labels[r], .. report.Confusion[r].Select(Int)]);
            }
        }
        if (document.Predictions is { } predictions)
        {
            csv.Append("\r\n");
            Row(csv, "section", "predictions", predictions.Source);
            WritePredictionRows(csv, predictions);
        }
        return csv.ToString();
    }

    /// <summary>
    /// One evaluation's per-image predictions alone (the dashboard's download): a header row, then one row per image with
    /// image, original, label, called, guess, correct, unidentified and p_CLASS for every class.
    /// </summary>
    public static string WritePredictions(RunReportPredictions predictions)
    {
        var csv = new StringBuilder();
        WritePredictionRows(csv, predictions);
        return csv.ToString();
    }

    private static void WritePredictionRows(StringBuilder csv, RunReportPredictions predictions)
    {
        Row(csv, ["image", "original", "label", "called", "guess", "correct", "unidentified", .. predictions.Labels.Select(l => $"p_{l}")]);
        foreach (var p in predictions.Images)
        {
            Row(csv, [p.Image, p.Original is { } o ? Int(o) : "", p.Label, p.Called, p.Guess, p.Correct ? "true" : "false", p.Unidentified ? "true" : "false",
                .. p.Probabilities.Select(v => Number(v))]);
        }
    }

    private static string Number(double value) => Number(value, "0.0000");

    private static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static string Optional(double? value) => value is { } v ? Number(v) : "";

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Row(StringBuilder csv, params string[] cells)
    {
        for (int i = 0; i < cells.Length; i++)
        {
            if (i > 0) csv.Append(',');
            csv.Append(Escape(cells[i]));
        }
        csv.Append("\r\n");
    }

    /// <summary>Quotes a cell when it holds a separator, quote or line break; defuses formula-like text (CSV injection).</summary>
    public static string Escape(string cell)
    {
        if (cell.Length > 0 && cell[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            cell = "'" + cell;
        }
        return cell.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : cell;
    }
}
