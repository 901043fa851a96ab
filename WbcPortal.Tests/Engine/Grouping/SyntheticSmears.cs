using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

/// <summary>Synthetic smears for grouping tests that need no real data.</summary>
internal static class SyntheticSmears
{
    /// <summary>A smear closer to BCCD than <see cref="TestImages.Smear"/>: a stain hue that varies by slide (each channel on its own), ~30 red cells with pale
    /// centres, a lobed nucleus with its cytoplasm near the middle.</summary>
    public static Image<Rgb24> Dense(int seed, int width = 320, int height = 240)
    {
        var rng = new Random(seed);
        int tint = rng.Next(-15, 16), tintG = rng.Next(-15, 16), tintB = rng.Next(-15, 16);
        var cells = Enumerable.Range(0, 30).Select(_ => (X: rng.Next(width), Y: rng.Next(height), R: rng.Next(16, 24))).ToArray();
        int nx = width / 2 + rng.Next(-25, 25), ny = height / 2 + rng.Next(-25, 25);
        var lobes = Enumerable.Range(0, rng.Next(2, 5)).Select(_ => (X: nx + rng.Next(-14, 15), Y: ny + rng.Next(-14, 15), R: rng.Next(9, 15))).ToArray();
        int cytoplasm = rng.Next(28, 36);
        var image = new Image<Rgb24>(width, height);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    int noise = rng.Next(-6, 7);
                    int r = 232 + tint, g = 222 + tintG, b = 226 + tintB;
                    foreach (var c in cells)
                    {
                        int d2 = (x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y);
                        if (d2 < c.R * c.R) { bool centre = d2 < c.R * c.R / 4; r = 215 + tint; g = (centre ? 170 : 140) + tintG; b = (centre ? 175 : 150) + tintB; }
                    }
                    if ((x - nx) * (x - nx) + (y - ny) * (y - ny) < cytoplasm * cytoplasm) { r = 200 + tint; g = 180 + tintG; b = 215 + tintB; }
                    foreach (var l in lobes)
                    {
                        if ((x - l.X) * (x - l.X) + (y - l.Y) * (y - l.Y) < l.R * l.R) { r = 100 + tint; g = 60 + tintG; b = 160 + tintB; }
                    }
                    row[x] = new Rgb24((byte)Math.Clamp(r + noise, 0, 255), (byte)Math.Clamp(g + noise, 0, 255), (byte)Math.Clamp(b + noise, 0, 255));
                }
            }
        });
        return image;
    }
}
