using System.Text.Json;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Splits;

/// <summary>Reads a stored split's report, and the honesty every figure made on that split is labelled with.</summary>
public static class SplitReports
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static SplitReport Read(string reportJson) =>
        JsonSerializer.Deserialize<SplitReport>(reportJson, Json) ?? throw new InvalidDataException("A split report is empty.");

    public static string Write(SplitReport report) => JsonSerializer.Serialize(report, Json);

    /// <summary>Originals (source groups) per part, summed over classes, or null where the split has no groups of its own per part.</summary>
    public static IReadOnlyDictionary<string, int>? OriginalsPerPart(Split? split)
    {
        if (split is null) return null;
        try
        {
            return Read(split.ReportJson).OriginalsPerPart?.ToDictionary(p => p.Key, p => p.Value.Values.Sum());
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>"train 221 · val 28 · test 28 originals", or null without groups.</summary>
    public static string? OriginalsText(IReadOnlyDictionary<string, int>? perPart) => perPart is null || perPart.Count == 0 ? null
        : string.Join(" · ", SplitParts.All.Where(perPart.ContainsKey).Select(p => $"{p} {perPart[p]:N0}")) + " originals";

    /// <summary>The honesty of a run's split; a run whose split is gone or unreadable is not trusted.</summary>
    public static SplitHonesty HonestyOf(Split? split)
    {
        if (split is null) return new(SplitHonestyStatus.Unchecked, "split unknown", "The run's split is not recorded, so nothing says its held-out parts are free of copies of its training cells.");
        try
        {
            return Read(split.ReportJson).Honesty;
        }
        catch (JsonException)
        {
            return new(SplitHonestyStatus.Unchecked, "split report unreadable", $"The report of split '{split.Name}' cannot be read, so its honesty is unknown.");
        }
    }
}
