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
