using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Imaging.Augmentation;

/// <summary>How pixels that map outside the source image are filled.</summary>
public enum AugmentationFill
{
    /// <summary>A constant colour (<see cref="AugmentationOptions.FillColor"/>, black by default), like Keras' <c>fill_mode='constant'</c>.</summary>
    Constant,

    /// <summary>The nearest edge pixel, like Keras' <c>fill_mode='nearest'</c>.</summary>
    Nearest,
}

/// <summary>
/// A Keras <c>ImageDataGenerator</c>-style random affine augmentation: rotation, shifts, shear, zoom and
/// flips, bilinear sampling. The defaults are the family the Kaggle "Blood Cell Images" TRAIN set was made with
/// (rotation up to 20 degrees, shifts up to 10%, shear 0.2 rad, horizontal and vertical flips, black fill).
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>Rotation drawn uniformly from [-RotationDegrees, +RotationDegrees].</summary>
    public double RotationDegrees { get; init; } = 20;

    /// <summary>Horizontal shift drawn uniformly from [-WidthShift, +WidthShift] times the width.</summary>
    public double WidthShift { get; init; } = 0.1;

    /// <summary>Vertical shift drawn uniformly from [-HeightShift, +HeightShift] times the height.</summary>
    public double HeightShift { get; init; } = 0.1;

    /// <summary>Shear angle in radians drawn uniformly from [-Shear, +Shear].</summary>
    public double Shear { get; init; } = 0.2;

    /// <summary>Zoom factor drawn uniformly from [1 - Zoom, 1 + Zoom] (0: none).</summary>
    public double Zoom { get; init; }

    /// <summary>Flip left-right with probability 1/2.</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>Flip top-bottom with probability 1/2.</summary>
    public bool VerticalFlip { get; init; } = true;

    public AugmentationFill Fill { get; init; } = AugmentationFill.Constant;

    public Rgb24 FillColor { get; init; } = new(0, 0, 0);

    public static AugmentationOptions KaggleBloodCells { get; } = new();
}

/// <summary>One drawn transform; <see cref="AffineAugmenter.Apply"/> renders it.</summary>
public readonly record struct AffineTransform(double RotationRadians, double ShiftX, double ShiftY, double ShearRadians, double Zoom, bool FlipH, bool FlipV);

/// <summary>Random affine augmentation with a caller-seeded <see cref="Random"/>; thread-safe (no state of its own).</summary>
public sealed class AffineAugmenter(AugmentationOptions options)
{
    public AugmentationOptions Options { get; } = options;

    /// <summary>Draws a transform for an image of the given size.</summary>
    public AffineTransform Draw(Random random, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(random);
        double U(double range) => range <= 0 ? 0 : (random.NextDouble() * 2 - 1) * range;
        double rot = U(Options.RotationDegrees) * Math.PI / 180;
        double tx = U(Options.WidthShift) * width;
        double ty = U(Options.HeightShift) * height;
        double shear = U(Options.Shear);
        double zoom = 1 + U(Options.Zoom);
        bool fh = Options.HorizontalFlip && random.NextDouble() < 0.5;
        bool fv = Options.VerticalFlip && random.NextDouble() < 0.5;
        return new AffineTransform(rot, tx, ty, shear, zoom, fh, fv);
    }

    /// <summary>A new augmented copy of <paramref name="source"/> (same size).</summary>
    public Image<Rgb24> Augment(Image<Rgb24> source, Random random)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Apply(source, Draw(random, source.Width, source.Height));
    }

    /// <summary>Renders <paramref name="t"/>: each output pixel samples the source at (R·Shear·Zoom)(p - c) + c - shift, then flips.</summary>
    public Image<Rgb24> Apply(Image<Rgb24> source, AffineTransform t)
    {
        ArgumentNullException.ThrowIfNull(source);
        int w = source.Width, h = source.Height;
        var src = new Rgb24[w * h];
        source.CopyPixelDataTo(src);
        var dst = new Rgb24[w * h];
        double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
        double cos = Math.Cos(t.RotationRadians), sin = Math.Sin(t.RotationRadians);
        // Matrix mapping output offsets to source offsets: rotation * shear * zoom (Keras' composition order).
        double a = cos * t.Zoom, b = (-cos * Math.Sin(t.ShearRadians) - sin * Math.Cos(t.ShearRadians)) * t.Zoom;
        double c = sin * t.Zoom, d = (-sin * Math.Sin(t.ShearRadians) + cos * Math.Cos(t.ShearRadians)) * t.Zoom;
        var fill = Options.FillColor;
        bool nearest = Options.Fill == AugmentationFill.Nearest;
        for (int y = 0; y < h; y++)
        {
            int oy = t.FlipV ? h - 1 - y : y;
            double dy = y - cy;
            for (int x = 0; x < w; x++)
            {
                int ox = t.FlipH ? w - 1 - x : x;
                double dx = x - cx;
                double sx = a * dx + b * dy + cx - t.ShiftX;
                double sy = c * dx + d * dy + cy - t.ShiftY;
                dst[oy * w + ox] = Sample(src, w, h, sx, sy, nearest, fill);
            }
        }
        return Image.LoadPixelData<Rgb24>(dst, w, h);
    }

    private static Rgb24 Sample(Rgb24[] src, int w, int h, double sx, double sy, bool nearest, Rgb24 fill)
    {
        if (nearest)
        {
            sx = Math.Clamp(sx, 0, w - 1);
            sy = Math.Clamp(sy, 0, h - 1);
        }
        int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
        double fx = sx - x0, fy = sy - y0;
        double r = 0, g = 0, bl = 0;
        for (int k = 0; k < 4; k++)
        {
            int xi = x0 + (k & 1), yi = y0 + (k >> 1);
            double wgt = ((k & 1) == 1 ? fx : 1 - fx) * ((k >> 1) == 1 ? fy : 1 - fy);
            if (wgt == 0) continue;
            Rgb24 p;
            if (xi >= 0 && xi < w && yi >= 0 && yi < h) p = src[yi * w + xi];
            else if (nearest) p = src[Math.Clamp(yi, 0, h - 1) * w + Math.Clamp(xi, 0, w - 1)];
            else p = fill;
            r += wgt * p.R;
            g += wgt * p.G;
            bl += wgt * p.B;
        }
        return new Rgb24((byte)Math.Clamp(Math.Round(r), 0, 255), (byte)Math.Clamp(Math.Round(g), 0, 255), (byte)Math.Clamp(Math.Round(bl), 0, 255));
    }
}
