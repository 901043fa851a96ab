using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace WbcPortal.Engine.Imaging.Augmentation;

/// <summary>
/// Colour and quality augmentation fitted to stained smears. <see cref="StainJitter"/> works in the stains' own colour space
/// (Ruifrok and Johnston's colour deconvolution: optical density split into haematoxylin, eosin and a residual channel): each
/// stain's amount is scaled by 1 ± σ and shifted by ± σ/4 (in optical density), as staining and scanners vary from lab to lab,
/// where brightness and contrast jitter only move every channel together. <see cref="BlurProbability"/> blurs by a Gaussian of
/// 0.3-1.2 px (focus); <see cref="JpegProbability"/> re-encodes at quality 40-90 (the JPEG artefacts of the capture chain).
/// Pure: every draw comes from the caller's <see cref="Random"/>.
/// </summary>
public static class StainAugmenter
{
    // Rows: haematoxylin, eosin, residual (DAB in the original), normalised optical-density vectors of R, G, B.
    private static readonly double[,] Stains = Normalised(new double[,]
    {
        { 0.650, 0.704, 0.286 },
        { 0.072, 0.990, 0.105 },
        { 0.268, 0.570, 0.776 },
    });
    private static readonly double[,] Inverse = Invert(Stains);

    public static void StainJitter(Image<Rgb24> image, double sigma, Random random)
    {
        if (sigma <= 0) return;
        var scale = new double[3];
        var shift = new double[3];
        for (int k = 0; k < 3; k++)
        {
            scale[k] = 1 + (random.NextDouble() * 2 - 1) * sigma;
            shift[k] = (random.NextDouble() * 2 - 1) * sigma / 4;
        }
        Apply(image, scale, shift);
    }

    /// <summary>Scales each stain's optical density by <paramref name="scale"/> and shifts it by <paramref name="shift"/> (haematoxylin, eosin, residual).</summary>
    public static void Apply(Image<Rgb24> image, double[] scale, double[] shift)
    {
        image.ProcessPixelRows(rows =>
        {
            Span<double> od = stackalloc double[3];
            Span<double> c = stackalloc double[3];
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    var p = row[x];
                    od[0] = -Math.Log((p.R + 1) / 256.0);
                    od[1] = -Math.Log((p.G + 1) / 256.0);
                    od[2] = -Math.Log((p.B + 1) / 256.0);
                    for (int k = 0; k < 3; k++)
                        c[k] = (od[0] * Inverse[0, k] + od[1] * Inverse[1, k] + od[2] * Inverse[2, k]) * scale[k] + shift[k];
                    row[x] = new Rgb24(Channel(c, 0), Channel(c, 1), Channel(c, 2));
                }
            }
        });
    }

    /// <summary>A Gaussian blur (with <paramref name="probability"/>) and a JPEG re-encoding (with <paramref name="jpegProbability"/>), in place of <paramref name="image"/>.</summary>
    public static Image<Rgb24> Degrade(Image<Rgb24> image, double probability, double jpegProbability, Random random)
    {
        if (probability > 0 && random.NextDouble() < probability)
        {
            float sigma = (float)(0.3 + random.NextDouble() * 0.9);
            image.Mutate(x => x.GaussianBlur(sigma));
        }
        if (jpegProbability > 0 && random.NextDouble() < jpegProbability)
        {
            int quality = 40 + random.Next(51);
            using var ms = new MemoryStream();
            image.SaveAsJpeg(ms, new JpegEncoder { Quality = quality });
            ms.Position = 0;
            var decoded = Image.Load<Rgb24>(ms);
            image.Dispose();
            return decoded;
        }
        return image;
    }

    private static byte Channel(Span<double> stains, int channel)
    {
        double od = stains[0] * Stains[0, channel] + stains[1] * Stains[1, channel] + stains[2] * Stains[2, channel];
        return (byte)Math.Clamp(Math.Round(256 * Math.Exp(-od) - 1), 0, 255);
    }

    private static double[,] Normalised(double[,] m)
    {
        var a = new double[3, 3];
        for (int r = 0; r < 3; r++)
        {
            double n = Math.Sqrt(m[r, 0] * m[r, 0] + m[r, 1] * m[r, 1] + m[r, 2] * m[r, 2]);
            for (int c = 0; c < 3; c++) a[r, c] = m[r, c] / n;
        }
        return a;
    }

    /// <summary>A 3x3 inverse by cofactors.</summary>
    private static double[,] Invert(double[,] a)
    {
        double det = a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0]) + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]);
        var inv = new double[3, 3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
            {
                int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
                inv[r, c] = (a[r1, c1] * a[r2, c2] - a[r1, c2] * a[r2, c1]) / det;
            }
        return inv;
    }
}
