using System.Globalization;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Services.Training;

namespace WbcPortal.Components.Pages.Runs;

/// <summary>How the compare page writes figures and their differences: proportions as percentages, their differences in points.</summary>
public static class CompareFormat
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Value(FigureKind kind, double? value) => value is not { } v ? "–" : kind switch
    {
        FigureKind.Percent => (v * 100).ToString("0.0", Invariant) + " %",
        FigureKind.Score => v.ToString("0.000", Invariant),
        FigureKind.Seconds => Duration(v),
        FigureKind.ImagesPerSecond => v.ToString("0.0", Invariant) + " img/s",
        FigureKind.Temperature => v.ToString("0.00", Invariant),
        FigureKind.Count => v.ToString("N0", Invariant),
        _ => v.ToString(Invariant),
    };

    public static string Interval(FigureKind kind, Interval? ci) => ci is null || kind != FigureKind.Percent ? ""
        : $"{(ci.Low * 100).ToString("0.0", Invariant)}–{(ci.High * 100).ToString("0.0", Invariant)}";

    /// <summary>A signed difference: percentage points for proportions, seconds as a signed duration.</summary>
    public static string Delta(FigureKind kind, double? delta)
    {
        if (delta is not { } d) return "";
        string sign = d > 0 ? "+" : d < 0 ? "−" : "±";
        double a = Math.Abs(d);
        return sign + kind switch
        {
            FigureKind.Percent => (a * 100).ToString("0.0", Invariant) + " pt",
            FigureKind.Score => a.ToString("0.000", Invariant),
            FigureKind.Seconds => Duration(a),
            FigureKind.ImagesPerSecond => a.ToString("0.0", Invariant),
            FigureKind.Temperature => a.ToString("0.00", Invariant),
            FigureKind.Count => a.ToString("N0", Invariant),
            _ => a.ToString(Invariant),
        };
    }

    public static string Duration(double seconds) => TimeSpan.FromSeconds(Math.Round(seconds)).ToString(@"h\:mm\:ss", Invariant);

    /// <summary>The CSS class of a difference: green when better, red when worse, muted otherwise.</summary>
    public static string VerdictClass(Verdict verdict) => verdict switch
    {
        Verdict.Better => "wbc-better",
        Verdict.Worse => "wbc-worse",
        _ => "wbc-same",
    };

    /// <summary>A configuration value as shown: a missing key and an empty list say so.</summary>
    public static string ConfigValue(string? value) => value switch
    {
        null => "not set",
        "" => "(none)",
        _ => value,
    };
}
