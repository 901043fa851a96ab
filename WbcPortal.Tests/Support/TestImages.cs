using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Tests.Support;

/// <summary>Small synthetic blood-smear-like images the tests make themselves.</summary>
public static class TestImages
{
    /// <summary>A pale background with a few pink discs and one purple "nucleus", deterministic for a seed.</summary>
    public static Image<Rgb24> Smear(int width = 320, int height = 240, int seed = 1)
    {
        var rng = new Random(seed);
        var image = new Image<Rgb24>(width, height);
        var cells = Enumerable.Range(0, 6).Select(_ => (X: rng.Next(width), Y: rng.Next(height), R: rng.Next(12, 30))).ToArray();
        int nx = width / 2 + rng.Next(-20, 20), ny = height / 2 + rng.Next(-20, 20), nr = rng.Next(20, 35);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    int noise = rng.Next(-8, 8);
                    var px = new Rgb24((byte)(225 + noise), (byte)(215 + noise), (byte)(220 + noise));
                    foreach (var c in cells)
                    {
                        if ((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y) < c.R * c.R) px = new Rgb24((byte)(200 + noise), (byte)(120 + noise), (byte)(130 + noise));
                    }
                    if ((x - nx) * (x - nx) + (y - ny) * (y - ny) < nr * nr) px = new Rgb24((byte)(90 + noise), (byte)(50 + noise), (byte)(140 + noise));
                    row[x] = px;
                }
            }
        });
        return image;
    }
}
