using System.Buffers;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace WbcPortal.Engine.Imaging;

/// <summary>
/// Turns an RGB image into the backbone's input: resized to Height x Width, channels reordered to
/// BGR, the per-pixel mean image subtracted, no scaling (the original ML.NET preprocessing graph).
/// One instance per input size; thread-safe.
/// </summary>
public sealed class BackbonePreprocessor
{
    private readonly MeanImage mean;

    public BackbonePreprocessor(MeanImage mean224, int height, int width)
    {
        if (height < 32 || width < 32) throw new ArgumentOutOfRangeException(nameof(height), "Input size must be at least 32x32.");
        Height = height;
        Width = width;
        mean = mean224.ResizeTo(height, width);
    }

    public int Height { get; }
    public int Width { get; }
    public int Length => 3 * Height * Width;

    /// <summary>The mean image at this size, [3, H, W] in B, G, R plane order (what <see cref="Normalize"/> subtracts).</summary>
    public ReadOnlySpan<float> MeanPlanes => mean.Planes;

    /// <summary>Resizes (if needed) and normalises <paramref name="image"/> into <paramref name="destination"/> ([3, H, W]).</summary>
    public void Prepare(Image<Rgb24> image, Span<float> destination)
    {
        if (image.Width == Width && image.Height == Height)
        {
            Normalize(image, destination);
            return;
        }
        using var resized = image.Clone(c => c.Resize(new ResizeOptions
        {
            Size = new Size(Width, Height),
            Mode = ResizeMode.Stretch,
            Sampler = KnownResamplers.Triangle,
        }));
        Normalize(resized, destination);
    }

    /// <summary>Normalises an image already at the input size.</summary>
    public void Normalize(Image<Rgb24> image, Span<float> destination)
    {
        if (image.Width != Width || image.Height != Height) throw new ArgumentException($"Image must be {Width}x{Height}.", nameof(image));
        if (destination.Length < Length) throw new ArgumentException("Destination too small.", nameof(destination));
        int plane = Height * Width;
        var meanPlanes = mean.Planes;
        var pixels = ArrayPool<Rgb24>.Shared.Rent(plane);
        try
        {
            image.CopyPixelDataTo(pixels.AsSpan(0, plane));
            for (int i = 0; i < plane; i++)
            {
                var p = pixels[i];
                destination[i] = p.B - meanPlanes[i];
                destination[plane + i] = p.G - meanPlanes[plane + i];
                destination[2 * plane + i] = p.R - meanPlanes[2 * plane + i];
            }
        }
        finally
        {
            ArrayPool<Rgb24>.Shared.Return(pixels);
        }
    }

    /// <summary>
    /// Normalises the pixels of a view already at the input size (row-major, <c>Width x Height</c>), read mirrored
    /// left-right and/or top-bottom: the same values as flipping the image and then <see cref="Normalize(Image{Rgb24}, Span{float})"/>,
    /// without making the flipped image. The mean image is not mirrored (it is the model's, not the picture's).
    /// </summary>
    public void Normalize(ReadOnlySpan<Rgb24> pixels, Span<float> destination, bool flipHorizontal = false, bool flipVertical = false)
    {
        int plane = Height * Width;
        if (pixels.Length < plane) throw new ArgumentException($"A view of {Width}x{Height} pixels is needed.", nameof(pixels));
        if (destination.Length < Length) throw new ArgumentException("Destination too small.", nameof(destination));
        var meanPlanes = mean.Planes;
        var blue = destination[..plane];
        var green = destination.Slice(plane, plane);
        var red = destination.Slice(2 * plane, plane);
        for (int y = 0; y < Height; y++)
        {
            var row = pixels.Slice((flipVertical ? Height - 1 - y : y) * Width, Width);
            int o = y * Width;
            if (flipHorizontal)
            {
                for (int x = 0; x < Width; x++)
                {
                    var p = row[Width - 1 - x];
                    blue[o + x] = p.B - meanPlanes[o + x];
                    green[o + x] = p.G - meanPlanes[plane + o + x];
                    red[o + x] = p.R - meanPlanes[2 * plane + o + x];
                }
            }
            else
            {
                for (int x = 0; x < Width; x++)
                {
                    var p = row[x];
                    blue[o + x] = p.B - meanPlanes[o + x];
                    green[o + x] = p.G - meanPlanes[plane + o + x];
                    red[o + x] = p.R - meanPlanes[2 * plane + o + x];
                }
            }
        }
    }

    /// <summary>Normalises planar RGB values (0-255, [3, H, W]).</summary>
    public void NormalizeRgbPlanes(ReadOnlySpan<float> rgb, Span<float> destination)
    {
        if (rgb.Length != Length || destination.Length < Length) throw new ArgumentException("Buffers must hold 3 x H x W values.");
        int plane = Height * Width;
        var meanPlanes = mean.Planes;
        for (int i = 0; i < plane; i++)
        {
            destination[i] = rgb[2 * plane + i] - meanPlanes[i];
            destination[plane + i] = rgb[plane + i] - meanPlanes[plane + i];
            destination[2 * plane + i] = rgb[i] - meanPlanes[2 * plane + i];
        }
    }

    /// <summary>Planar RGB 0-255 values of an image, [3, H, W].</summary>
    public static float[] ToRgbPlanes(Image<Rgb24> image)
    {
        int plane = image.Width * image.Height;
        var result = new float[3 * plane];
        var pixels = new Rgb24[plane];
        image.CopyPixelDataTo(pixels);
        for (int i = 0; i < plane; i++)
        {
            result[i] = pixels[i].R;
            result[plane + i] = pixels[i].G;
            result[2 * plane + i] = pixels[i].B;
        }
        return result;
    }
}
