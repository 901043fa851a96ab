using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Exploration;

public class PixelMeasuresTests
{
    /// <summary>An image whose left <paramref name="leftColumns"/> columns are <paramref name="left"/> and the rest <paramref name="right"/>.</summary>
    private static Image<Rgb24> Split(int width, int height, int leftColumns, Rgb24 left, Rgb24 right)
    {
        var image = new Image<Rgb24>(width, height);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++) row[x] = x < leftColumns ? left : right;
            }
        });
        return image;
    }

    [Theory]
    [InlineData(255, 255, 255, 255)]
    [InlineData(0, 0, 0, 0)]
    [InlineData(255, 0, 0, 76)]   // 0.299 * 255 = 76.2
    [InlineData(0, 255, 0, 150)]  // 0.587 * 255 = 149.7
    [InlineData(0, 0, 255, 29)]   // 0.114 * 255 = 29.1
    [InlineData(200, 120, 130, 145)] // 59.8 + 70.44 + 14.82 = 145.06
    public void Luma_is_itu_r_601(byte r, byte g, byte b, byte expected) =>
        Assert.Equal(expected, PixelMeasures.Luma(new Rgb24(r, g, b)));

    [Fact]
    public void Half_black_half_white_has_a_border_share_of_one_half()
    {
        using var image = Split(40, 30, 20, new Rgb24(0, 0, 0), new Rgb24(255, 255, 255));
        Assert.Equal(0.5, PixelMeasures.BlackBorderFraction(image));
    }

    [Fact]
    public void Near_black_counts_only_when_every_channel_is_below_the_level()
    {
        // left quarter (9, 9, 9): black; the rest (9, 9, 10): one channel at the level, not black
        using var image = Split(40, 10, 10, new Rgb24(9, 9, 9), new Rgb24(9, 9, 10));
        Assert.Equal(0.25, PixelMeasures.BlackBorderFraction(image));
        Assert.Equal(0.0, PixelMeasures.BlackBorderFraction(image, blackLevel: 9));
    }

    [Fact]
    public void Threshold_fractions_and_mask_count_the_pixels_darker_than_the_level()
    {
        // a quarter at gray 100, the rest at gray 190
        using var image = Split(40, 10, 10, new Rgb24(100, 100, 100), new Rgb24(190, 190, 190));
        Assert.Equal(1.0, PixelMeasures.FractionBelow(image, 200), 12);
        Assert.Equal(0.25, PixelMeasures.FractionBelow(image, 150), 12);
        Assert.Equal(0.0, PixelMeasures.FractionBelow(image, 100), 12); // darker than, not equal
        Assert.Equal(0.25, PixelMeasures.FractionBelow(image, 101), 12);

        using var mask = PixelMeasures.ThresholdMask(image, 150);
        Assert.Equal(0, mask[0, 0].PackedValue);
        Assert.Equal(0, mask[9, 9].PackedValue);
        Assert.Equal(255, mask[10, 0].PackedValue);
        Assert.Equal(255, mask[39, 9].PackedValue);
    }

    [Fact]
    public void Levels_outside_0_to_255_are_refused()
    {
        using var image = Split(4, 4, 2, new Rgb24(0, 0, 0), new Rgb24(255, 255, 255));
        Assert.Throws<ArgumentOutOfRangeException>(() => PixelMeasures.ThresholdMask(image, 256));
        Assert.Throws<ArgumentOutOfRangeException>(() => PixelMeasures.FractionBelow(image, -1));
    }

    [Fact]
    public void Grayscale_maps_every_pixel_to_its_luma()
    {
        using var smear = TestImages.Smear(64, 48, seed: 3);
        using var gray = PixelMeasures.Grayscale(smear);
        Assert.Equal(smear.Width, gray.Width);
        Assert.Equal(smear.Height, gray.Height);
        for (int y = 0; y < smear.Height; y += 7)
        {
            for (int x = 0; x < smear.Width; x += 5) Assert.Equal(PixelMeasures.Luma(smear[x, y]), gray[x, y].PackedValue);
        }
    }

    [Fact]
    public void The_histogram_is_a_density_that_sums_to_one_and_agrees_with_the_threshold_fractions()
    {
        using var smear = TestImages.Smear(seed: 5);
        var density = PixelMeasures.GrayHistogram(smear);
        Assert.Equal(256, density.Length);
        Assert.Equal(1.0, density.Sum(), 9);
        Assert.All(density, d => Assert.InRange(d, 0, 1));

        // the smear's pale background (luma about 210-225) is lighter than 200; its cells and nucleus are darker
        double below200 = PixelMeasures.FractionBelow(density, 200);
        Assert.InRange(below200, 0.01, 0.9);
        Assert.Equal(below200, PixelMeasures.FractionBelow(smear, 200), 12);
        Assert.Equal(0.0, PixelMeasures.BlackBorderFraction(smear));
    }

    [Fact]
    public void Two_level_image_has_two_histogram_bins()
    {
        using var image = Split(10, 10, 3, new Rgb24(0, 0, 0), new Rgb24(255, 255, 255));
        var density = PixelMeasures.GrayHistogram(image);
        Assert.Equal(0.3, density[0], 12);
        Assert.Equal(0.7, density[255], 12);
        Assert.Equal(1.0, density[0] + density[255], 12);
    }
}
