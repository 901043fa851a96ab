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
        (splits.FirstOrDefault(s => IsComplete(s) && !s.Report.Leaky) ?? splits.FirstOrDefault(IsComplete))?.Name;

    public static bool IsComplete(SplitSummary split) => split.Report.EmptyParts.Count == 0;

    /// <summary>"no test part", "no validation and test parts"; null when the split has all three.</summary>
    public static string? MissingText(SplitSummary split)
    {
        var missing = split.Report.EmptyParts.Select(p => p == SplitParts.Val ? "validation" : p).ToList();
        return missing.Count == 0 ? null : $"no {string.Join(" and ", missing)} part{(missing.Count > 1 ? "s" : "")}";
    }

    public static string Label(SplitSummary split)
    {
        var marks = new List<string> { split.Report.Strategy };
        if (split.Report.Leaky) marks.Add("leaky");
        if (MissingText(split) is { } missing) marks.Add(missing);
        return $"{split.Name} ({string.Join(", ", marks)})";
    }

    /// <summary>
    /// The devices and whether each is usable here. The one place the form asks about devices: switch it to the
    /// service-side availability check when that lands.
    /// </summary>
    public static IReadOnlyList<DeviceChoice> Devices(TorchRuntime runtime)
    {
        bool cuda;
        string? why = null;
        try
        {
            cuda = runtime.CudaAvailable;
            if (!cuda) why = "no usable GPU here (CPU libtorch build or no CUDA driver)";
        }
        catch (Exception ex) when (ex is DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            cuda = false;
            why = $"TorchSharp could not be loaded to look for a GPU ({ex.Message})";
        }
        return
        [
            new("auto", $"auto: {(cuda ? "cuda" : "cpu")} here", true, null),
            new("cpu", "cpu", true, null),
            new("cuda", cuda ? "cuda" : "cuda (unavailable)", cuda, why),
        ];
    }
}
