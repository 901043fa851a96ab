using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Imaging;

/// <summary>Limits on what an image may be before it is decoded.</summary>
public sealed record ImageLimits(long MaxBytes = 20 * 1024 * 1024, int MaxWidth = 8192, int MaxHeight = 8192, long MaxPixels = 40_000_000)
{
    public static ImageLimits Default { get; } = new();
}

/// <summary>
/// Decodes untrusted images with a hardened ImageSharp configuration: only PNG and JPEG, a bounded
/// memory allocator, and dimensions checked by <c>Identify</c> before any pixel is decoded.
/// </summary>
public sealed class ImageDecoding
{
    private readonly Configuration configuration;

    public ImageDecoding(ImageLimits limits)
    {
        Limits = limits;
        configuration = new Configuration(new PngConfigurationModule(), new JpegConfigurationModule())
        {
            MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions
            {
                AllocationLimitMegabytes = (int)Math.Max(64, limits.MaxPixels * 4 * 2 / (1024 * 1024)),
            }),
        };
    }

    public ImageLimits Limits { get; }

    public Configuration Configuration => configuration;

    /// <summary>Decodes to RGB after checking format and size; throws <see cref="ImageRejectedException"/> with a reason.</summary>
    public Image<Rgb24> DecodeRgb(Stream stream)
    {
        if (stream.CanSeek && stream.Length > Limits.MaxBytes)
            throw new ImageRejectedException(ImageRejection.TooLargeBytes, $"file is {stream.Length:N0} bytes, the limit is {Limits.MaxBytes:N0}");
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }
        long start = stream.Position;
        IImageInfo? info;
        try
        {
            info = Image.Identify(configuration, stream);
        }
        catch (Exception ex) when (ex is UnknownImageFormatException or NotSupportedException)
        {
            throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "not a PNG or JPEG image");
        }
        catch (Exception ex) when (ex is InvalidImageContentException or ImageFormatException or InvalidDataException or EndOfStreamException)
        {
            throw new ImageRejectedException(ImageRejection.Corrupt, $"corrupt image header ({ex.Message})");
        }
        if (info is null) throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "not a PNG or JPEG image");
        if (info.Width > Limits.MaxWidth || info.Height > Limits.MaxHeight || (long)info.Width * info.Height > Limits.MaxPixels)
            throw new ImageRejectedException(ImageRejection.TooLargePixels, $"image is {info.Width}x{info.Height} pixels, the limit is {Limits.MaxWidth}x{Limits.MaxHeight} and {Limits.MaxPixels:N0} pixels");
        stream.Position = start;
        try
        {
            return Image.Load<Rgb24>(configuration, stream);
        }
        catch (Exception ex) when (ex is InvalidImageContentException or ImageFormatException or InvalidDataException or EndOfStreamException or InvalidMemoryOperationException)
        {
            throw new ImageRejectedException(ImageRejection.Corrupt, $"corrupt or truncated image ({ex.Message})");
        }
    }

    public Image<Rgb24> DecodeRgb(string path)
    {
        using var stream = File.OpenRead(path);
        return DecodeRgb(stream);
    }
}

public enum ImageRejection
{
    NotAnImage,
    UnsupportedFormat,
    Corrupt,
    TooLargeBytes,
    TooLargePixels,
}

public sealed class ImageRejectedException(ImageRejection reason, string message) : Exception(message)
{
    public ImageRejection Reason { get; } = reason;
}
