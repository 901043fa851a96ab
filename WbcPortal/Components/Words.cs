using System.Globalization;

namespace WbcPortal.Components;

/// <summary>Counts in words as pages write them: "1 original", "12 originals", "1,045 images".</summary>
public static class Words
{
    public static string Count(int n, string singular, string? plural = null) =>
        n.ToString("N0", CultureInfo.InvariantCulture) + " " + (n == 1 ? singular : plural ?? singular + "s");
}
