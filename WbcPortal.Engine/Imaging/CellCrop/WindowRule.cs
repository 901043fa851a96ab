using System.Globalization;

namespace WbcPortal.Engine.Imaging.CellCrop;

/// <summary>
/// The window rule (<see cref="CellLocator"/> then <see cref="ModelView"/>) written out as <c>wbc.crop.*</c> metadata, so a
/// program outside the portal can cut the window a model expects from the model file alone. Every value comes from the
/// constants the code runs on; <see cref="Version"/> changes whenever the rule does. The README's "The model format" gives
/// the same rule as a reference implementation with test vectors.
/// </summary>
public static class WindowRule
{
    /// <summary>The version of the rule below; raise it with any change to <see cref="CellLocator"/> or <see cref="ModelView"/>'s sampling.</summary>
    public const int Version = 1;

    public const string Prefix = "wbc.crop.";
    public const string VersionKey = Prefix + "version";
    public const string ModeKey = Prefix + "mode";

    /// <summary>Cell mode: a window centred on the located nucleus; whole mode: the whole image resized.</summary>
    public const string CellMode = "cell", WholeMode = "whole";

    /// <summary>The rule for <paramref name="crop"/>, as ordered key/values (all under <see cref="Prefix"/>).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Properties(CellCropSpec crop)
    {
        ArgumentNullException.ThrowIfNull(crop);
        var list = new List<KeyValuePair<string, string>>
        {
            new(VersionKey, Text(Version)),
            new(ModeKey, crop.Enabled ? CellMode : WholeMode),
        };
        void Add(string key, string value) => list.Add(new(Prefix + key, value));
        if (!crop.Enabled)
        {
            Add("resize", "stretch the whole image to input_width x input_height (none when already that size); resampler imagesharp-2.1-triangle");
        }
        else
        {
            // The locator.
            Add("threshold", Text(crop.Threshold));
            Add("threshold_steps", $"0,{Text(CellLocator.FirstLooserStep)},{Text(CellLocator.SecondLooserStep)}");
            Add("threshold_max", Text(CellLocator.MaxThreshold));
            Add("grid_rows", Text(CellLocator.GridRows));
            Add("grid_min", Text(CellLocator.MinGridCells));
            Add("gray_weights", $"{Text(CellLocator.GrayR)},{Text(CellLocator.GrayG)},{Text(CellLocator.GrayB)}");
            Add("blue_over_red", Text(CellLocator.BlueOverRed));
            Add("dilation_divisor", Text(CellLocator.DilationDivisor));
            Add("connectivity", "8");
            Add("min_area", Text(CellLocator.MinAreaFraction));
            Add("centre_weight", Text(CellLocator.CentreWeight));
            Add("centre", "bounding box of the chosen region's stained grid cells, in source pixels; image centre when none is found");
            // The window.
            Add("window_height", Text(crop.Size));
            Add("window_width", "window_height * input_width / input_height");
            Add("window_clamp", "centre kept inside the image where the window fits");
            Add("sampling", "bilinear at pixel centres, edges clamped, rounded half to even");
            Add("shrink_below", Text(ModelView.ShrinkBelowScale));
            Add("shrink_resampler", "imagesharp-2.1-triangle");
        }
        Add("reference", "README.md, section \"The model format\"");
        return list;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
