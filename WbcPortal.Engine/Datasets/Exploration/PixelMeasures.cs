using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Datasets.Exploration;

/// <summary>
/// The pixel measures of the exploration, as small pure functions: grayscale by ITU-R BT.601 luma,
/// threshold masks, and the share of near-black pixels that rotation leaves in the corners.
/// </summary>
public static class PixelMeasures
{
    /// <summary>A pixel counts as rotation border when every channel is below this.</summary>
    public const int DefaultBlackLevel = 10;

    /// <summary>ITU-R BT.601 luma, rounded: 0.299 R + 0.587 G + 0.114 B.</summary>
    public static byte Luma(Rgb24 pixel) =>
        (byte)Math.Min(255, (int)Math.Round(0.299 * pixel.R + 0.587 * pixel.G + 0.114 * pixel.B, MidpointRounding.AwayFromZero));

    public static bool IsBlack(Rgb24 pixel, int blackLevel = DefaultBlackLevel) =>
        pixel.R < blackLevel && pixel.G < blackLevel && pixel.B < blackLevel;

    public static Image<L8> Grayscale(Image<Rgb24> image) => Map(image, Luma);

    /// <summary>Pixels darker than <paramref name="level"/> (luma below it) are black, the rest white.</summary>
    public static Image<L8> ThresholdMask(Image<Rgb24> image, int level)
    {
        CheckLevel(level);
        return Map(image, p => Luma(p) < level ? (byte)0 : (byte)255);
    }

    /// <summary>The fraction of pixels whose luma is below <paramref name="level"/>.</summary>
    public static double FractionBelow(Image<Rgb24> image, int level)
    {
        CheckLevel(level);
        return FractionBelow(GrayHistogram(image), level);
    }

    /// <summary>The fraction below <paramref name="level"/> read off a density histogram (bins 0..255).</summary>
    public static double FractionBelow(IReadOnlyList<double> density, int level)
    {
        CheckLevel(level);
        double sum = 0;
        for (int i = 0; i < level; i++) sum += density[i];
        return Math.Min(1, sum);
    }

    /// <summary>The share of pixels whose channels are all below <paramref name="blackLevel"/>.</summary>
    public static double BlackBorderFraction(Image<Rgb24> image, int blackLevel = DefaultBlackLevel) =>
        Measure(image, blackLevel).BlackFraction;

    /// <summary>Grayscale histogram normalised to densities: 256 bins that sum to 1.</summary>
    public static double[] GrayHistogram(Image<Rgb24> image) => Measure(image).Density;

    /// <summary>The histogram and the black share in one pass over the pixels.</summary>
    public static ImageMeasure Measure(Image<Rgb24> image, int blackLevel = DefaultBlackLevel)
    {
        var counts = new long[256];
        long black = 0;
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                foreach (var pixel in rows.GetRowSpan(y))
                {
                    counts[Luma(pixel)]++;
                    if (IsBlack(pixel, blackLevel)) black++;
                }
            }
        });
        double total = (double)image.Width * image.Height;
        return new ImageMeasure(counts.Select(c => c / total).ToArray(), black / total);
    }

    internal static void CheckLevel(int level)
    {
        if (level is < 0 or > 255) throw new ArgumentOutOfRangeException(nameof(level), level, "A threshold level is 0 to 255.");
    }

    private static Image<L8> Map(Image<Rgb24> image, Func<Rgb24, byte> map)
    {
        var result = new Image<L8>(image.Width, image.Height);
        image.ProcessPixelRows(result, (source, target) =>
        {
            for (int y = 0; y < source.Height; y++)
            {
                var from = source.GetRowSpan(y);
                var to = target.GetRowSpan(y);
                for (int x = 0; x < from.Length; x++) to[x] = new L8(map(from[x]));
            }
        });
        return result;
    }
}

/// <summary>One image's grayscale density histogram (256 bins summing to 1) and its share of near-black pixels.</summary>
public sealed record ImageMeasure(double[] Density, double BlackFraction);
