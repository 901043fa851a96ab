using System.Globalization;
using System.Net;
using System.Text;
using static System.FormattableString;

namespace WbcPortal.Engine.Evaluation.Reports;

/// <summary>One line of a line chart.</summary>
public sealed record SvgSeries(string Name, string Color, IReadOnlyList<double> Values);

/// <summary>
/// The report's charts drawn as inline SVG (no script, no external reference), so an exported report stays readable
/// offline and forever. Every text is HTML-encoded; every number is written in the invariant culture.
/// </summary>
public static class SvgCharts
{
    public const string Diagonal = "#2e7d32";
    public const string OffDiagonal = "#c62828";

    private static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string EI(FormattableString text) => WebUtility.HtmlEncode(FormattableString.Invariant(text));

    /// <summary>Lines over epochs 1..n; <paramref name="roundBreak"/> (the first epoch of round 2, 1-based) draws a dashed divider.</summary>
    public static string LineChart(string title, IReadOnlyList<SvgSeries> series, int? roundBreak = null, double? yMax = null)
    {
        const int width = 460, height = 260, left = 48, right = 12, top = 28, bottom = 40;
        int n = series.Count == 0 ? 0 : series.Max(s => s.Values.Count);
        var finite = series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        double max = yMax ?? (finite.Count == 0 ? 1 : NiceCeiling(finite.Max()));
        if (max <= 0) max = 1;
        double plotW = width - left - right, plotH = height - top - bottom;
        double X(int i) => left + (n <= 1 ? plotW / 2 : plotW * i / (n - 1));
        double Y(double v) => top + plotH * (1 - Math.Clamp(v / max, 0, 1));

        var svg = Open(width, height, title);
        svg.Append(Inv, $"<text x=\"{left}\" y=\"18\" class=\"t\">{E(title)}</text>");
        for (int k = 0; k <= 4; k++)
        {
            double v = max * k / 4, y = Y(v);
            svg.Append(Inv, $"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{F(y)}\" y2=\"{F(y)}\" class=\"grid\"/>");
            svg.Append(Inv, $"<text x=\"{left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\" class=\"s\">{E(v.ToString(max <= 1 ? "0.00" : "0.##", CultureInfo.InvariantCulture))}</text>");
        }
        int step = Math.Max(1, (int)Math.Ceiling(n / 10.0));
        for (int i = 0; i < n; i += step)
        {
            svg.Append(Inv, $"<text x=\"{F(X(i))}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\" class=\"s\">{i + 1}</text>");
        }
        svg.Append(Inv, $"<text x=\"{left + plotW / 2}\" y=\"{height - 6}\" text-anchor=\"middle\" class=\"s\">epoch</text>");
        if (roundBreak is int b && b > 1 && b <= n)
        {
            double x = (X(b - 2) + X(b - 1)) / 2;
            svg.Append(Inv, $"<line x1=\"{F(x)}\" x2=\"{F(x)}\" y1=\"{top}\" y2=\"{top + plotH}\" class=\"divider\"/>");
            svg.Append(Inv, $"<text x=\"{F(x + 4)}\" y=\"{top + 12}\" class=\"s\">round 2</text>");
        }
        int legendX = left + 8;
        foreach (var s in series)
        {
            var points = s.Values.Select((v, i) => (v, i)).Where(p => double.IsFinite(p.v)).Select(p => $"{F(X(p.i))},{F(Y(p.v))}").ToList();
            if (points.Count > 1) svg.Append(Inv, $"<polyline points=\"{string.Join(' ', points)}\" fill=\"none\" stroke=\"{E(s.Color)}\" stroke-width=\"2\"/>");
            foreach (var p in points)
            {
                var xy = p.Split(',');
                svg.Append(Inv, $"<circle cx=\"{xy[0]}\" cy=\"{xy[1]}\" r=\"2.5\" fill=\"{E(s.Color)}\"/>");
            }
            svg.Append(Inv, $"<rect x=\"{legendX}\" y=\"{top + 4}\" width=\"10\" height=\"10\" fill=\"{E(s.Color)}\"/>");
            svg.Append(Inv, $"<text x=\"{legendX + 14}\" y=\"{top + 13}\" class=\"s\">{E(s.Name)}</text>");
            legendX += 22 + 7 * s.Name.Length;
        }
        return Close(svg);
    }

    /// <summary>
    /// A confusion-matrix heatmap (rows actual, columns predicted); cells are shaded by their share of the row, the
    /// diagonal in green, mistakes in red; <paramref name="normalised"/> prints row percentages instead of counts.
    /// </summary>
    public static string Heatmap(string title, IReadOnlyList<string> labels, int[][] confusion, bool normalised)
    {
        int n = labels.Count;
        const int cell = 54;
        int labelWidth = Math.Clamp(8 + 7 * (labels.Count == 0 ? 4 : labels.Max(l => l.Length)), 60, 160);
        // column labels are turned 60°: they need about half their length beyond the last column
        int left = labelWidth + 22, top = 44 + labelWidth;
        int width = Math.Max(left + n * cell + labelWidth / 2 + 10, 12 + (int)(7.8 * title.Length)), height = top + n * cell + 10;
        var svg = Open(width, height, title);
        svg.Append(Inv, $"<text x=\"4\" y=\"18\" class=\"t\">{E(title)}</text>");
        svg.Append(Inv, $"<text x=\"{left + n * cell / 2}\" y=\"38\" text-anchor=\"middle\" class=\"s\">predicted</text>");
        svg.Append(Inv, $"<text transform=\"translate(12 {top + n * cell / 2}) rotate(-90)\" text-anchor=\"middle\" class=\"s\">actual</text>");
        for (int c = 0; c < n; c++)
        {
            double x = left + c * cell + cell / 2.0;
            svg.Append(Inv, $"<text transform=\"translate({F(x + 4)} {top - 6}) rotate(-60)\" class=\"s\">{E(labels[c])}</text>");
        }
        for (int r = 0; r < n; r++)
        {
            int rowTotal = confusion[r].Sum();
            svg.Append(Inv, $"<text x=\"{left - 6}\" y=\"{top + r * cell + cell / 2 + 4}\" text-anchor=\"end\" class=\"s\">{E(labels[r])}</text>");
            for (int c = 0; c < n; c++)
            {
                int count = confusion[r][c];
                double share = rowTotal == 0 ? 0 : (double)count / rowTotal;
                string color = r == c ? Diagonal : OffDiagonal;
                int x = left + c * cell, y = top + r * cell;
                svg.Append(Inv, $"<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{color}\" fill-opacity=\"{F(0.06 + 0.88 * share)}\" stroke=\"{(r == c ? Diagonal : "#bbb")}\" stroke-width=\"{(r == c ? 2 : 1)}\"><title>{EI($"{labels[r]} predicted as {labels[c]}: {count} ({share:P1} of {labels[r]})")}</title></rect>");
                string text = normalised ? (rowTotal == 0 ? "–" : (100 * share).ToString("0.0", CultureInfo.InvariantCulture) + "%") : count.ToString(CultureInfo.InvariantCulture);
                svg.Append(Inv, $"<text x=\"{x + cell / 2}\" y=\"{y + cell / 2 + 5}\" text-anchor=\"middle\" class=\"v\" fill=\"{(share > 0.55 ? "#fff" : "#222")}\">{E(text)}</text>");
            }
        }
        return Close(svg);
    }

    /// <summary>Accuracy per confidence bin before and after temperature scaling, against the diagonal of perfect calibration.</summary>
    public static string ReliabilityDiagram(string title, CalibrationSummary before, CalibrationSummary after)
    {
        const int size = 240, left = 48, top = 28, right = 220, bottom = 40;
        int width = left + size + right, height = top + size + bottom;
        double X(double v) => left + size * Math.Clamp(v, 0, 1);
        double Y(double v) => top + size * (1 - Math.Clamp(v, 0, 1));
        var svg = Open(width, height, title);
        svg.Append(Inv, $"<text x=\"{left}\" y=\"18\" class=\"t\">{E(title)}</text>");
        for (int k = 0; k <= 4; k++)
        {
            double v = k / 4.0;
            svg.Append(Inv, $"<line x1=\"{left}\" x2=\"{left + size}\" y1=\"{F(Y(v))}\" y2=\"{F(Y(v))}\" class=\"grid\"/>");
            svg.Append(Inv, $"<text x=\"{left - 6}\" y=\"{F(Y(v) + 4)}\" text-anchor=\"end\" class=\"s\">{v:0.00}</text>");
            svg.Append(Inv, $"<text x=\"{F(X(v))}\" y=\"{top + size + 16}\" text-anchor=\"middle\" class=\"s\">{v:0.00}</text>");
        }
        svg.Append(Inv, $"<text x=\"{left + size / 2}\" y=\"{height - 6}\" text-anchor=\"middle\" class=\"s\">confidence (top-class probability)</text>");
        svg.Append(Inv, $"<text transform=\"translate(12 {top + size / 2}) rotate(-90)\" text-anchor=\"middle\" class=\"s\">accuracy</text>");
        svg.Append(Inv, $"<line x1=\"{F(X(0))}\" y1=\"{F(Y(0))}\" x2=\"{F(X(1))}\" y2=\"{F(Y(1))}\" class=\"divider\"/>");
        var curves = new[]
        {
            (Name: Invariant($"before (T = 1), ECE {before.Ece:0.000}"), Color: "#e65100", Summary: before),
            (Name: Invariant($"after (T = {after.Temperature:0.00}), ECE {after.Ece:0.000}"), Color: "#1565c0", Summary: after),
        };
        int legendY = top + 8;
        foreach (var (name, color, summary) in curves)
        {
            var bins = summary.Bins.Where(b => b.Count > 0).ToList();
            var points = bins.Select(b => $"{F(X(b.MeanConfidence))},{F(Y(b.Accuracy))}").ToList();
            if (points.Count > 1) svg.Append(Inv, $"<polyline points=\"{string.Join(' ', points)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>");
            foreach (var b in bins)
            {
                svg.Append(Inv, $"<circle cx=\"{F(X(b.MeanConfidence))}\" cy=\"{F(Y(b.Accuracy))}\" r=\"3\" fill=\"{color}\"><title>{EI($"{b.Lower:0.00}-{b.Upper:0.00}: {b.Count} images, confidence {b.MeanConfidence:0.000}, accuracy {b.Accuracy:0.000}")}</title></circle>");
            }
            svg.Append(Inv, $"<rect x=\"{left + size + 12}\" y=\"{legendY}\" width=\"10\" height=\"10\" fill=\"{color}\"/>");
            svg.Append(Inv, $"<text x=\"{left + size + 26}\" y=\"{legendY + 9}\" class=\"s\">{E(name)}</text>");
            legendY += 18;
        }
        svg.Append(Inv, $"<text x=\"{left + size + 12}\" y=\"{legendY + 9}\" class=\"s\">dashed: perfect calibration</text>");
        return Close(svg);
    }

    private static StringBuilder Open(int width, int height, string title) =>
        new StringBuilder().Append(Inv, $"<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{E(title)}\" class=\"chart\">");

    private static string Close(StringBuilder svg) => svg.Append("</svg>").ToString();

    private static double NiceCeiling(double value)
    {
        if (value <= 0) return 1;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var m in new[] { 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 })
        {
            if (m * magnitude >= value) return m * magnitude;
        }
        return 10 * magnitude;
    }
}
