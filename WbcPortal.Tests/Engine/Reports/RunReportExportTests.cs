using WbcPortal.Engine.Datasets.Splitting;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reports;

namespace WbcPortal.Tests.Engine.Reports;

/// <summary>The CSV and HTML exports of a hand-made report whose every figure is known.</summary>
public class RunReportExportTests
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL", "<b>&"];

    /// <summary>
    /// Confusion (rows actual): EOSINOPHIL 3 1 0 · NEUTROPHIL 1 2 1 · &lt;b&gt;&amp; 0 0 2: accuracy 7/10; EOSINOPHIL
    /// precision 3/4, recall 3/4; NEUTROPHIL 2/3 and 2/4; &lt;b&gt;&amp; 2/3 and 2/2.
    /// </summary>
    private static EvaluationReport HandMadeReport()
    {
        int[][] confusion = [[3, 1, 0], [1, 2, 1], [0, 0, 2]];
        var predictions = new List<ImagePrediction>();
        for (int actual = 0; actual < 3; actual++)
        {
            for (int predicted = 0; predicted < 3; predicted++)
            {
                for (int k = 0; k < confusion[actual][predicted]; k++)
                {
                    var logits = new float[3];
                    logits[predicted] = 2;
                    predictions.Add(new ImagePrediction($"{actual}-{predicted}-{k}", actual, logits));
                }
            }
        }
        return EvaluationReport.Build(Labels, predictions, temperature: 1.5);
    }

    private static RunReportDocument Document() => new()
    {
        RunName = "run <i>1</i>",
        Split = "cells-grouped-s42",
        Status = "Succeeded",
        Device = "cpu",
        Seconds = 75.5,
        CreatedAt = new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero),
        ConfigJson = """{ "note": "<script>alert(1)</script>" }""",
        Temperature = 1.5,
        Epochs =
        [
            new RunReportEpoch(1, 1, 1.2, 0.5, 1.1, 0.55, 10, 300, 1e-3),
            new RunReportEpoch(1, 2, 0.9, 0.65, 0.95, 0.6, 10, 300, 1e-3),
            new RunReportEpoch(2, 1, 0.6, 0.8, 0.7, 0.72, 40, 20, 1e-4),
        ],
        Rounds = [new RunReportRound("untrained", "Untrained head", 0.25, 0.3, 0.2), new RunReportRound("round2", "Round 2 (fine-tuned)", 0.72, 0.7, 0.69)],
        Evaluations =
        [
            new RunReportEvaluation("split cells-grouped-s42 / test", "test", null, HandMadeReport()),
            new RunReportEvaluation("folder /data/new, \"batch\" 2", "folder", null, HandMadeReport()),
        ],
        GeneratedAt = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero),
    };

    /// <summary>Numbers must not follow the server's culture (a German one writes 0,75).</summary>
    private static T InGerman<T>(Func<T> write)
    {
        var culture = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            return write();
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    [Fact]
    public void The_csv_has_the_classification_report_and_the_confusion_matrix_of_each_evaluation()
    {
        var lines = InGerman(() => ReportCsv.Write(Document())).Split("\r\n");

        Assert.Equal("section,run", lines[0]);
        Assert.Contains("name,run <i>1</i>", lines);
        Assert.Contains("temperature,1.5000", lines);
        Assert.Contains("mean_images_per_second,206.7", lines);
        Assert.Contains("round2,0.7200,0.7000,0.6900", lines);

        int first = Array.IndexOf(lines, "section,classification report,split cells-grouped-s42 / test");
        Assert.True(first > 0);
        Assert.Equal(
        [
            "images,10",
            "temperature,1.5000",
            $"ece_uncalibrated,{HandMadeReport().Uncalibrated.Ece.ToString("0.0000", CultureInfo.InvariantCulture)}",
            $"ece_calibrated,{HandMadeReport().Calibrated.Ece.ToString("0.0000", CultureInfo.InvariantCulture)}",
            "reject_threshold,0.0000",
            "coverage,1.0000",
            "accuracy_decided,0.7000",
            "unidentified,0",
            "class,precision,recall,f1,support,ci95_low,ci95_high",
            "EOSINOPHIL,0.7500,0.7500,0.7500,4,0.3006,0.9544",
            "NEUTROPHIL,0.6667,0.5000,0.5714,4,0.1500,0.8500",
            "<b>&,0.6667,1.0000,0.8000,2,0.3424,1.0000",
            "accuracy,,,0.7000,10,0.3968,0.8922",
            "macro avg,0.6944,0.7500,0.7071,10,,",
            "weighted avg,0.7000,0.7000,0.6886,10,,",
            "",
            "section,confusion matrix,split cells-grouped-s42 / test",
            "actual \\ predicted,EOSINOPHIL,NEUTROPHIL,<b>&",
            "EOSINOPHIL,3,1,0",
            "NEUTROPHIL,1,2,1",
            "<b>&,0,0,2",
        ], lines[(first + 1)..(first + 22)]);

        // a source with a comma and quotes is one quoted cell
        Assert.Contains("section,classification report,\"folder /data/new, \"\"batch\"\" 2\"", lines);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("-0.5", "-0.5")]
    [InlineData("two\nlines", "\"two\nlines\"")]
    public void Csv_cells_are_quoted_and_formulas_defused(string cell, string expected) =>
        Assert.Equal(expected, ReportCsv.Escape(cell));

    [Fact]
    public void The_html_is_one_self_contained_file_with_every_text_encoded()
    {
        string html = InGerman(() => ReportHtml.Write(Document()));

        Assert.StartsWith("<!DOCTYPE html>", html);
        // nothing outside the file: no script, stylesheet, font, image or link
        Assert.DoesNotMatch(new Regex(@"\bsrc\s*=", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex(@"\bhref\s*=", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("http://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);

        // every text is encoded: the label, the run name, the configuration
        Assert.DoesNotContain("<b>&", html);
        Assert.Contains("&lt;b&gt;&amp;", html);
        Assert.Contains("run &lt;i&gt;1&lt;/i&gt;", html);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html);

        // the figures, in the invariant culture
        Assert.Contains("95% Wilson score intervals", html);
        Assert.Contains("<td>accuracy</td><td></td><td></td><td>0.397–0.892</td><td>0.700</td><td>10</td>", html);
        Assert.Contains("<td>&lt;b&gt;&amp;</td><td>0.667</td><td>1.000</td><td>0.342–1.000</td><td>0.800</td><td>2</td>", html);
        Assert.DoesNotContain("0,750", html);

        // charts: the two training curves, then per evaluation two heatmaps and a reliability diagram, all well-formed SVG
        var svgs = Regex.Matches(html, "<svg.*?</svg>", RegexOptions.Singleline).Select(m => m.Value).ToList();
        Assert.Equal(2 + 2 * 3, svgs.Count);
        foreach (var svg in svgs) XElement.Parse(svg.Replace("&nbsp;", " ", StringComparison.Ordinal));
        Assert.Contains(svgs, s => s.Contains("aria-label=\"Confusion matrix (counts)\"", StringComparison.Ordinal) && s.Contains(">3</text>", StringComparison.Ordinal));
        Assert.Contains(svgs, s => s.Contains("aria-label=\"Confusion matrix (% of each actual class)\"", StringComparison.Ordinal) && s.Contains(">75.0%</text>", StringComparison.Ordinal));
        Assert.Contains(svgs, s => s.Contains("aria-label=\"Reliability\"", StringComparison.Ordinal) && s.Contains("after (T = 1.50)", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_export_says_how_honest_the_split_is_and_warns_when_it_is_leaky()
    {
        var leaky = Document() with
        {
            SplitHonesty = SplitHonestyExport.From(SplitHonesty.Of(new SplitReport(SplitStrategy.Random, "0.7,0.15,0.15", 1,
                new Dictionary<string, IReadOnlyDictionary<string, int>>(), 0, new Dictionary<string, int>(), 0, 0, false, 0))),
        };
        var csv = ReportCsv.Write(leaky).Split("\r\n");
        Assert.Contains("split_honesty,leakyByDesign", csv);
        Assert.Contains("split_leak_free,false", csv);
        var html = ReportHtml.Write(leaky);
        Assert.Contains("<p class=\"warn\" data-honesty=\"leakyByDesign\"><b>Split cells-grouped-s42: leaky by design.</b>", html, StringComparison.Ordinal);
        var json = JsonDocument.Parse(JsonSerializer.Serialize(leaky, new JsonSerializerOptions(JsonSerializerDefaults.Web))).RootElement;
        Assert.Equal("leakyByDesign", json.GetProperty("splitHonesty").GetProperty("status").GetString());
        Assert.False(json.GetProperty("splitHonesty").GetProperty("leakFree").GetBoolean());

        var clean = Document() with
        {
            SplitHonesty = SplitHonestyExport.From(SplitHonesty.Of(new SplitReport(SplitStrategy.Grouped, "0.7,0.15,0.15", 1,
                new Dictionary<string, IReadOnlyDictionary<string, int>>(), 10, new Dictionary<string, int>(), 0, 0, false, 0)
                { LeakCheck = new LeakCheckReport("test", 1, 100, 0, [], 0.1) })),
        };
        Assert.Contains("split_leak_free,true", ReportCsv.Write(clean).Split("\r\n"));
        Assert.DoesNotContain("class=\"warn\"", ReportHtml.Write(clean), StringComparison.Ordinal);
        Assert.Contains("<td>leak-free</td>", ReportHtml.Write(clean), StringComparison.Ordinal);
    }

    [Fact]
    public void The_document_serialises_its_configuration_as_an_object()
    {
        var json = JsonDocument.Parse(JsonSerializer.Serialize(Document(), new JsonSerializerOptions(JsonSerializerDefaults.Web))).RootElement;
        Assert.Equal("<script>alert(1)</script>", json.GetProperty("config").GetProperty("note").GetString());
        Assert.False(json.TryGetProperty("configJson", out _));
        Assert.Equal(2, json.GetProperty("evaluations").GetArrayLength());
        Assert.Equal(0.7, json.GetProperty("evaluations")[0].GetProperty("report").GetProperty("accuracy").GetDouble(), 6);
    }
}
