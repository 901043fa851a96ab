using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Imaging.Augmentation;

namespace WbcPortal.Tests.Support.Grouping;

using WbcPortal.Engine.Datasets.Grouping;

/// <summary>
/// An augmentation family unlike the Kaggle set's, to check that grouping does not depend on how the copies were made: rotation by
/// any angle, flips, a random crop (shift and scale) resized back, colour jitter (brightness, contrast, saturation, a small per-channel
/// hue cast) and JPEG re-compression at a random quality.
/// </summary>
public sealed record CopyAugmentation
{
    /// <summary>Rotation drawn from [-RotationDegrees, +RotationDegrees]; 180: any angle.</summary>
    public double RotationDegrees { get; init; } = 180;

    /// <summary>Shift drawn from [-Shift, +Shift] times the width (height).</summary>
    public double Shift { get; init; } = 0.08;

    /// <summary>Zoom drawn from [1 - Zoom, 1 + Zoom].</summary>
    public double Zoom { get; init; } = 0.1;

    /// <summary>Each side cropped by up to this share of the size, then resized back to the original size.</summary>
    public double Crop { get; init; } = 0.08;

    /// <summary>Gains drawn from [1 - x, 1 + x]: brightness (all channels), contrast (around the mean), saturation (around grey).</summary>
    public double Brightness { get; init; } = 0.12;

    public double Contrast { get; init; } = 0.12;

    public double Saturation { get; init; } = 0.15;

    /// <summary>Per-channel gain drawn from [1 - HueCast, 1 + HueCast] (a small colour cast).</summary>
    public double HueCast { get; init; } = 0.03;

    /// <summary>JPEG qualities drawn from [JpegQualityMin, JpegQualityMax]: one intermediate re-compression and the saved file.</summary>
    public int JpegQualityMin { get; init; } = 60;

    public int JpegQualityMax { get; init; } = 95;

    public static CopyAugmentation Default { get; } = new();

    /// <summary>The family the grouping tests check: any-angle rotation, flips, shift, zoom, crop, brightness and saturation jitter, JPEG
    /// re-compression, at milder strengths than <see cref="Default"/>, and without the per-channel hue cast and contrast, which the
    /// colour-heavy descriptor does not survive yet (GroupingLab's <c>ablation</c> measures each part; issue 11, part 2).</summary>
    public static CopyAugmentation Mild { get; } = Default with
    {
        HueCast = 0, Contrast = 0, Brightness = 0.06, Saturation = 0.08, JpegQualityMin = 80, Crop = 0.05, Zoom = 0.06,
    };
}

/// <summary>Writes differently-augmented copies (<see cref="CopyAugmentation"/>) of given originals, with the original of every copy.</summary>
public static class AugmentedCopySet
{
    /// <summary>One original: a key (its name in the truth map), its class and its image (not disposed here).</summary>
    public sealed record Original(string Name, string ClassName, Image<Rgb24> Image);

    /// <summary>A new copy of <paramref name="original"/>.</summary>
    public static Image<Rgb24> Copy(Image<Rgb24> original, Random random, CopyAugmentation? options = null)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(random);
        var o = options ?? CopyAugmentation.Default;
        double U(double range) => range <= 0 ? 0 : (random.NextDouble() * 2 - 1) * range;
        int w = original.Width, h = original.Height;
        var augmenter = new AffineAugmenter(new AugmentationOptions { Shear = 0 });
        var transform = new AffineTransform(U(o.RotationDegrees) * Math.PI / 180, U(o.Shift) * w, U(o.Shift) * h, 0, 1 + U(o.Zoom),
            random.NextDouble() < 0.5, random.NextDouble() < 0.5);
        var copy = augmenter.Apply(original, transform);
        int left = (int)(random.NextDouble() * o.Crop * w), right = (int)(random.NextDouble() * o.Crop * w);
        int top = (int)(random.NextDouble() * o.Crop * h), bottom = (int)(random.NextDouble() * o.Crop * h);
        if (left + right > 0 || top + bottom > 0)
        {
            copy.Mutate(c => c.Crop(new Rectangle(left, top, w - left - right, h - top - bottom)).Resize(w, h));
        }
        Jitter(copy, 1 + U(o.Brightness), 1 + U(o.Contrast), 1 + U(o.Saturation), [1 + U(o.HueCast), 1 + U(o.HueCast), 1 + U(o.HueCast)]);
        int quality = random.Next(o.JpegQualityMin, o.JpegQualityMax + 1);
        using var stream = new MemoryStream();
        copy.SaveAsJpeg(stream, new JpegEncoder { Quality = quality });
        copy.Dispose();
        stream.Position = 0;
        return Image.Load<Rgb24>(stream);
    }

    private static void Jitter(Image<Rgb24> image, double brightness, double contrast, double saturation, double[] cast)
    {
        double sum = 0; long count = 0;
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                foreach (var p in rows.GetRowSpan(y))
                {
                    if (p.R + p.G + p.B <= 30) continue;
                    sum += 0.299 * p.R + 0.587 * p.G + 0.114 * p.B;
                    count++;
                }
            }
        });
        double mean = count > 0 ? sum / count : 128;
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                foreach (ref var p in rows.GetRowSpan(y))
                {
                    // Fill (black) stays black: only the picture is re-exposed.
                    if (p.R + p.G + p.B <= 30) continue;
                    double gray = 0.299 * p.R + 0.587 * p.G + 0.114 * p.B;
                    double r = gray + (p.R - gray) * saturation, g = gray + (p.G - gray) * saturation, b = gray + (p.B - gray) * saturation;
                    r = ((r - mean) * contrast + mean) * brightness * cast[0];
                    g = ((g - mean) * contrast + mean) * brightness * cast[1];
                    b = ((b - mean) * contrast + mean) * brightness * cast[2];
                    p = new Rgb24((byte)Math.Clamp(Math.Round(r), 0, 255), (byte)Math.Clamp(Math.Round(g), 0, 255), (byte)Math.Clamp(Math.Round(b), 0, 255));
                }
            }
        });
    }

    /// <summary>
    /// Writes <paramref name="copies"/> copies of each original into <paramref name="outputDirectory"/> (<c>CLASS/NAME_k.jpeg</c>) and
    /// returns them as grouping inputs with the index of each key's original. Deterministic for a seed.
    /// </summary>
    public static (IReadOnlyList<GroupingInput> Inputs, IReadOnlyDictionary<string, int> OriginalOfKey) Generate(
        IReadOnlyList<Original> originals, int copies, int seed, string outputDirectory, CopyAugmentation? options = null, int threads = 0,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(originals);
        var perOriginal = new GroupingInput[originals.Count][];
        Parallel.For(0, originals.Count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancellationToken }, i =>
        {
            var original = originals[i];
            var random = new Random(unchecked(seed * 7919 + i));
            string dir = Path.Combine(outputDirectory, original.ClassName);
            Directory.CreateDirectory(dir);
            var list = new GroupingInput[copies];
            for (int k = 0; k < copies; k++)
            {
                using (var copy = Copy(original.Image, random, options))
                {
                    string path = Path.Combine(dir, $"{original.Name}_{k:D3}.jpeg");
                    copy.SaveAsJpeg(path, new JpegEncoder { Quality = random.Next((options ?? CopyAugmentation.Default).JpegQualityMin, (options ?? CopyAugmentation.Default).JpegQualityMax + 1) });
                    list[k] = new GroupingInput($"{original.ClassName}/{original.Name}_{k:D3}", original.ClassName, path);
                }
            }
            perOriginal[i] = list;
        });
        var inputs = perOriginal.SelectMany(l => l).ToList();
        var truth = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < originals.Count; i++)
        {
            foreach (var input in perOriginal[i]) truth[input.Key] = i;
        }
        return (inputs, truth);
    }
}
