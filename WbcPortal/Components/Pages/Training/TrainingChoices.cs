using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Splits;

namespace WbcPortal.Components.Pages.Training;

/// <summary>A compute device the form offers, whether this machine can use it, and why not.</summary>
public sealed record DeviceChoice(string Value, string Label, bool Available, string? Reason);

/// <summary>What the Training form offers: which splits (and which it picks first) and which devices.</summary>
public static class TrainingChoices
{
    /// <summary>
    /// The split the form starts on: never one without a validation or test part (a run on it has no honest figures),
    /// a leak-free one first; null when no split has all three parts.
    /// </summary>
    public static string? Preselect(IReadOnlyList<SplitSummary> splits) =>
        (splits.FirstOrDefault(s => IsComplete(s) && s.Report.Honesty.Trustworthy)
            ?? splits.FirstOrDefault(s => IsComplete(s) && !s.Report.Leaky) ?? splits.FirstOrDefault(IsComplete))?.Name;

    /// <summary>Originals (source groups) per part, e.g. "originals: train 211 · validation 33 · test 33 · fewest: monocyte in test, ≈2.0".</summary>
    public static string OriginalsLine(SplitSummary split)
    {
        var report = split.Report;
        if (report.OriginalsPerPart is not { } originals) return report.Strategy == SplitStrategy.Random ? "originals: shared by all parts (random split)" : "originals per part: not recorded for this split";
        string line = "originals: " + string.Join(" · ", SplitParts.All.Select(p => $"{(p == SplitParts.Val ? "validation" : p)} {originals.GetValueOrDefault(p)?.Values.Sum() ?? 0:N0}"));
        return report.Thinnest is { } thin
            ? line + FormattableString.Invariant($" · fewest: {thin.ClassName.ToLowerInvariant()} in {(thin.Part == SplitParts.Val ? "validation" : thin.Part)}, ≈{thin.Originals:0.0}")
            : line;
    }

    public static bool IsComplete(SplitSummary split) => split.Report.EmptyParts.Count == 0;

    /// <summary>"no test part", "no validation and test parts"; null when the split has all three.</summary>
    public static string? MissingText(SplitSummary split)
    {
        var missing = split.Report.EmptyParts.Select(p => p == SplitParts.Val ? "validation" : p).ToList();
        return missing.Count == 0 ? null : $"no {string.Join(" and ", missing)} part{(missing.Count > 1 ? "s" : "")}";
    }

    public static string Label(SplitSummary split)
    {
        var marks = new List<string> { split.Report.Strategy.Name() };
        if (split.Report.Leaky) marks.Add("leaky");
        if (MissingText(split) is { } missing) marks.Add(missing);
        return $"{split.Name} ({string.Join(", ", marks)})";
    }

    /// <summary>The devices and whether each is usable here: the same check the service refuses a run with.</summary>
    public static IReadOnlyList<DeviceChoice> Devices(TorchRuntime runtime)
    {
        IReadOnlyList<DeviceAvailability> devices;
        try
        {
            devices = runtime.Devices();
        }
        catch (Exception ex) when (ex is DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            devices = [new("auto", true, null), new("cpu", true, null), new("cuda", false, $"TorchSharp could not be loaded to look for a GPU ({ex.Message})")];
        }
        bool cuda = devices.Any(d => d.Name == "cuda" && d.Available);
        return devices.Select(d => d.Name switch
        {
            "auto" => new DeviceChoice("auto", $"auto: {(cuda ? "cuda" : "cpu")} here", d.Available, d.Reason),
            "cuda" => new DeviceChoice("cuda", d.Available ? "cuda" : "cuda (unavailable)", d.Available, d.Available ? null : "no usable GPU here (a CPU libtorch build or no CUDA device)"),
            _ => new DeviceChoice(d.Name, d.Name, d.Available, d.Reason),
        }).ToList();
    }
}
