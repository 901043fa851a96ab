using System.Buffers;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace WbcPortal.Engine.Imaging.CellCrop;

/// <summary>
/// Cuts what the model sees out of a source image, at the model's input scale. With a crop, the view is the
/// window of <see cref="CellCropSpec.Size"/> centred on the cell (kept inside the image); a margin widens it
/// around the same centre so rotations during training have real pixels in the corners (edge pixels repeat
/// where the margin leaves the image). Without a crop, the view is the whole image resized. The view is
/// always the centre <c>Width x Height</c> of the returned window. Thread-safe.
/// </summary>
public sealed class ModelView(CellCropSpec crop, int height, int width)
{
    /// <summary>Below this scale (output pixels per source pixel) the source is first shrunk (Triangle resize) before bilinear sampling.</summary>
    public const double ShrinkBelowScale = 0.67;

    public CellCropSpec Crop { get; } = crop;
    public int Height { get; } = height;
    public int Width { get; } = width;

    /// <summary>The window for <paramref name="image"/>: the view, widened by <paramref name="margin"/> (≥ 1) when cropping.</summary>
    public Image<Rgb24> Window(Image<Rgb24> image, double margin = 1)
    {
        if (!Crop.Enabled)
        {
            return image.Width == Width && image.Height == Height
                ? image.Clone()
                : image.Clone(c => c.Resize(new ResizeOptions { Size = new Size(Width, Height), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Triangle }));
        }
        var location = CellLocator.Locate(image, Crop.Threshold);
        return Window(image, location, margin);
    }

    /// <summary>
    /// The view itself (what <see cref="Center"/> of <see cref="Window(Image{Rgb24}, double)"/> gives), written as
    /// <c>Width x Height</c> row-major pixels into <paramref name="destination"/> without making intermediate images:
    /// the same pixels, bit for bit. For inference, where each image is seen once.
    /// </summary>
    public void ViewPixels(Image<Rgb24> image, Span<Rgb24> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < Width * Height) throw new ArgumentException($"A view of {Width}x{Height} pixels is needed.", nameof(destination));
        if (!Crop.Enabled)
        {
            if (image.Width == Width && image.Height == Height)
            {
                image.CopyPixelDataTo(destination[..(Width * Height)]);
                return;
            }
            using var resized = image.Clone(c => c.Resize(new ResizeOptions { Size = new Size(Width, Height), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Triangle }));
            resized.CopyPixelDataTo(destination[..(Width * Height)]);
            return;
        }
        Sample(image, CellLocator.Locate(image, Crop.Threshold), 1, destination);
    }

    /// <summary>
    /// The view centred on a cell already found (a smear's detection), with the view's height given in source pixels instead of
    /// taken from the image's size: on a smear the window must be as large, in the cell's own pixels, as on the single-cell
    /// images the model learnt from, however large the smear. The view is kept inside the image as <see cref="ViewPixels"/> keeps it.
    /// A model without a crop sees a whole field of <paramref name="viewHeight"/> rows around the cell, resized.
    /// </summary>
    public void ViewPixelsAt(Image<Rgb24> image, double centerX, double centerY, double viewHeight, Span<Rgb24> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < Width * Height) throw new ArgumentException($"A view of {Width}x{Height} pixels is needed.", nameof(destination));
        if (!(viewHeight > 1)) throw new ArgumentOutOfRangeException(nameof(viewHeight));
        var location = new CellLocation(true, (float)centerX, (float)centerY, default, 0);
        Sample(image, location, 1, destination, viewHeight);
    }

    /// <summary>The window around a known location.</summary>
    public Image<Rgb24> Window(Image<Rgb24> image, CellLocation location, double margin)
    {
        if (margin < 1) throw new ArgumentOutOfRangeException(nameof(margin));
        int outW = Width + 2 * (int)Math.Round(Width * (margin - 1) / 2);
        int outH = Height + 2 * (int)Math.Round(Height * (margin - 1) / 2);
        var dst = new Rgb24[outW * outH];
        Sample(image, location, margin, dst);
        return Image.LoadPixelData<Rgb24>(dst, outW, outH);
    }

    /// <summary>Bilinear samples of the window around <paramref name="location"/>, widened by <paramref name="margin"/>.</summary>
    private void Sample(Image<Rgb24> image, CellLocation location, double margin, Span<Rgb24> dst, double? viewHeight = null)
    {
        double viewH = viewHeight ?? Crop.Size * Math.Min(image.Width, image.Height);
        double viewW = viewH * Width / Height;
        // Keep the view inside the image where it fits.
        double cx = Math.Clamp(location.CenterX, Math.Min(viewW / 2, image.Width / 2.0), Math.Max(image.Width - viewW / 2, image.Width / 2.0));
        double cy = Math.Clamp(location.CenterY, Math.Min(viewH / 2, image.Height / 2.0), Math.Max(image.Height - viewH / 2, image.Height / 2.0));
        int outW = Width + 2 * (int)Math.Round(Width * (margin - 1) / 2);
        int outH = Height + 2 * (int)Math.Round(Height * (margin - 1) / 2);
        double scale = Width / viewW; // output pixels per source pixel

        // Bilinear sampling is fine down to half scale; below that, shrink the source first.
        Image<Rgb24>? shrunk = null;
        var source = image;
        if (scale < ShrinkBelowScale)
        {
            int sw = Math.Max(1, (int)Math.Round(image.Width * scale)), sh = Math.Max(1, (int)Math.Round(image.Height * scale));
            shrunk = image.Clone(c => c.Resize(new ResizeOptions { Size = new Size(sw, sh), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Triangle }));
            cx *= (double)sw / image.Width;
            cy *= (double)sh / image.Height;
            scale = (double)Width / (viewW * sw / image.Width);
            source = shrunk;
        }
        var src = ArrayPool<Rgb24>.Shared.Rent(source.Width * source.Height);
        try
        {
            int w = source.Width, h = source.Height;
            source.CopyPixelDataTo(src.AsSpan(0, w * h));
            double step = 1 / scale;
            double left = cx - outW / 2.0 * step, top = cy - outH / 2.0 * step;
            for (int y = 0; y < outH; y++)
            {
                double sy = Math.Clamp(top + (y + 0.5) * step - 0.5, 0, h - 1);
                int y0 = (int)sy, y1 = Math.Min(y0 + 1, h - 1);
                double fy = sy - y0;
                for (int x = 0; x < outW; x++)
                {
                    double sx = Math.Clamp(left + (x + 0.5) * step - 0.5, 0, w - 1);
                    int x0 = (int)sx, x1 = Math.Min(x0 + 1, w - 1);
                    double fx = sx - x0;
                    Rgb24 a = src[y0 * w + x0], b = src[y0 * w + x1], c = src[y1 * w + x0], d = src[y1 * w + x1];
                    dst[y * outW + x] = new Rgb24(
                        Lerp(a.R, b.R, c.R, d.R, fx, fy),
                        Lerp(a.G, b.G, c.G, d.G, fx, fy),
                        Lerp(a.B, b.B, c.B, d.B, fx, fy));
                }
            }
        }
        finally
        {
            ArrayPool<Rgb24>.Shared.Return(src);
            shrunk?.Dispose();
        }
    }

    /// <summary>The centre <c>Width x Height</c> of a window (the view itself).</summary>
    public Image<Rgb24> Center(Image<Rgb24> window)
    {
        if (window.Width == Width && window.Height == Height) return window.Clone();
        int x = (window.Width - Width) / 2, y = (window.Height - Height) / 2;
        return window.Clone(c => c.Crop(new Rectangle(x, y, Width, Height)));
    }

    private static byte Lerp(byte a, byte b, byte c, byte d, double fx, double fy)
    {
        double top = a + (b - a) * fx, bottom = c + (d - c) * fx;
        return (byte)Math.Clamp(Math.Round(top + (bottom - top) * fy), 0, 255);
    }
}
