using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

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

    /// <summary>
    /// A smear field: pale pink background, red cells, and white cells at the given places, each a violet nucleus of radius
    /// <c>R</c> in a pale blue-grey cytoplasm of radius 1.6 R. The same field at another size is drawn to scale (positions and radii
    /// multiplied by <paramref name="scale"/>), so a half-size copy is what the Kaggle images are to their BCCD smears.
    /// </summary>
    public static Image<Rgb24> Field(int width, int height, int seed, (int X, int Y, int R)[] whiteCells, double scale = 1)
    {
        var rng = new Random(seed);
        var reds = Enumerable.Range(0, 40).Select(_ => (X: rng.Next(640), Y: rng.Next(480), R: rng.Next(22, 34))).ToArray();
        var image = new Image<Rgb24>(width, height);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    double fx = x / scale, fy = y / scale;
                    var px = new Rgb24(232, 214, 214);
                    foreach (var c in reds)
                        if ((fx - c.X) * (fx - c.X) + (fy - c.Y) * (fy - c.Y) < c.R * c.R) px = new Rgb24(214, 140, 146);
                    foreach (var c in whiteCells)
                    {
                        double d2 = (fx - c.X) * (fx - c.X) + (fy - c.Y) * (fy - c.Y);
                        if (d2 < 2.56 * c.R * c.R) px = new Rgb24(196, 190, 214);
                        if (d2 < c.R * c.R) px = new Rgb24(92, 52, 150);
                    }
                    row[x] = px;
                }
            }
        });
        return image;
    }

    /// <summary>
    /// A two-class training part written under <paramref name="root"/>/<paramref name="part"/>: <paramref name="perClass"/> smears a
    /// class, class 1 hue-shifted (PURPLE / TEAL), keys "part/label/i".
    /// </summary>
    public static List<WbcPortal.Engine.Training.LabeledImage> TwoClassPart(string root, string part, int perClass, int seed)
    {
        var list = new List<WbcPortal.Engine.Training.LabeledImage>();
        for (int label = 0; label < 2; label++)
        {
            for (int i = 0; i < perClass; i++)
            {
                using var image = Smear(64, 48, seed + 100 * label + i);
                if (label == 1) image.Mutate(c => c.Hue(150));
                var path = Path.Combine(root, part, $"{label}_{i}.png");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                image.SaveAsPng(path);
                list.Add(new WbcPortal.Engine.Training.LabeledImage($"{part}/{label}/{i}", path, label));
            }
        }
        return list;
    }
}
