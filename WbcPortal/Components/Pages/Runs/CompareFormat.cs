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

    /// <summary>A signed difference: percentage points for proportions; a duration in words ("35 s longer"), never a signed clock time that reads like a sum.</summary>
    public static string Delta(FigureKind kind, double? delta)
    {
        if (delta is not { } d) return "";
        if (kind == FigureKind.Seconds) return d == 0 ? "same time" : $"{Span(Math.Abs(d))} {(d > 0 ? "longer" : "shorter")}";
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

    /// <summary>A length of time in words: "35 s", "4 min 05 s", "1 h 02 min".</summary>
    public static string Span(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours} h {t.Minutes:00} min" : t.TotalMinutes >= 1 ? $"{t.Minutes} min {t.Seconds:00} s" : $"{t.Seconds} s";
    }

    /// <summary>What a difference means, in words beside it (never a colour alone).</summary>
    public static string VerdictWords(Verdict verdict) => verdict switch
    {
        Verdict.Better => "gain beyond noise",
        Verdict.Worse => "loss beyond noise",
        Verdict.WithinNoise => "within noise",
        Verdict.NotEstimated => "no noise estimate",
        Verdict.Unjudged => "not judged: leaky split",
        Verdict.Same => "same",
        Verdict.Changed => "changed",
        _ => "",
    };

    /// <summary>The difference's 95 % interval and how it was measured, or why it was not judged.</summary>
    public static string NoiseTitle(FigureKind kind, FigureCell cell) => cell.Verdict switch
    {
        Verdict.Unjudged => "Not judged: a split of this pair is not leak-free",
        Verdict.NotEstimated => "One value each and no per-image record to measure its noise: the difference is shown, not judged",
        _ when cell.Noise is { } n => $"95 % interval of the difference: {Delta(kind, n.Ci.Low)} to {Delta(kind, n.Ci.High)}, {n.Basis}",
        _ => "",
    };

    /// <summary>The CSS class of a difference: green for a gain beyond noise, red for a loss beyond noise, muted otherwise.</summary>
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
