using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Imaging;

/// <summary>
/// Limits on what an image may be before it is decoded, and the memory one decode may take.
/// </summary>
/// <remarks>
/// Memory bounds, stated and enforced:
/// <list type="bullet">
/// <item>Per decode: <see cref="MaxDecodeBytes"/> (by default <see cref="DecodeBytesPerPixel"/> bytes per allowed pixel plus
/// 16 MB: 416 MB for 40 M pixels), the sum of every buffer ImageSharp allocates while identifying and decoding one image
/// (the result included), counted by <see cref="ImageDecoding"/>'s allocator; a file that needs more is refused as
/// "too large to decode within N MB". On top come the file's bytes and its rewritten PNG copy (each at most <see cref="MaxBytes"/>).</item>
/// <item>PNG metadata is never inflated by the decoder (see <see cref="PngChunks"/>); JPEG metadata is skipped
/// (<c>IgnoreMetadata</c>) and is not compressed anyway: a JPEG segment is at most 64 KB and the file at most <see cref="MaxBytes"/>.</item>
/// <item>Per import: at most <c>parallel decodes x <see cref="MaxBytesPerFile"/></c> (the decode bound plus four times the
/// file limit: the read buffer, its copy, the rewritten PNG), plus the decoder's pool (<see cref="ImageDecoding.PoolMegabytes"/>).</item>
/// </list>
/// </remarks>
public sealed record ImageLimits(long MaxBytes = 20 * 1024 * 1024, int MaxWidth = 8192, int MaxHeight = 8192, long MaxPixels = 40_000_000)
{
    /// <summary>The decode budget per allowed pixel: a progressive 4:4:4 JPEG holds 6 bytes of coefficients and the 3-byte RGB result.</summary>
    public const int DecodeBytesPerPixel = 10;

    public static ImageLimits Default { get; } = new();

    /// <summary>Overrides the derived decode budget (tests, small machines).</summary>
    public long? DecodeBudgetBytes { get; init; }

    /// <summary>The most one decode may allocate in ImageSharp buffers, all of them together.</summary>
    public long MaxDecodeBytes => DecodeBudgetBytes ?? MaxPixels * DecodeBytesPerPixel + 16L * 1024 * 1024;

    /// <summary>The most one file in flight may hold: its decode plus its bytes read, copied and rewritten.</summary>
    public long MaxBytesPerFile => MaxDecodeBytes + 4 * MaxBytes;

    /// <summary>The bound of an import (or any batch) decoding <paramref name="parallelism"/> files at once, pool excluded.</summary>
    public long MaxBytesFor(int parallelism) => parallelism * MaxBytesPerFile;
}

/// <summary>
/// Decodes untrusted images with a hardened ImageSharp configuration: only PNG and JPEG, metadata ignored (PNG
/// ancillary chunks removed by <see cref="PngChunks"/> before ImageSharp sees the file), dimensions checked by
/// <c>Identify</c> before any pixel is decoded, and every buffer of one decode counted against
/// <see cref="ImageLimits.MaxDecodeBytes"/>. A file that breaks a limit, or runs the machine out of memory, is an
/// <see cref="ImageRejectedException"/> with a reason: one file's rejection, never the caller's failure.
/// </summary>
public sealed class ImageDecoding
{
    /// <summary>What the decoder's pool may keep between decodes.</summary>
    public const int PoolMegabytes = 64;

    private readonly Configuration configuration;
    private readonly BudgetAllocator allocator;
    private readonly PngDecoder png = new() { IgnoreMetadata = true };
    private readonly JpegDecoder jpeg = new() { IgnoreMetadata = true };

    public ImageDecoding(ImageLimits limits)
    {
        Limits = limits;
        allocator = new BudgetAllocator(MemoryAllocator.Create(new MemoryAllocatorOptions
        {
            // No single buffer may be larger than the whole decode budget.
            AllocationLimitMegabytes = (int)Math.Clamp(limits.MaxDecodeBytes / (1024 * 1024) + 1, 8, int.MaxValue),
            MaximumPoolSizeMegabytes = PoolMegabytes,
        }));
        configuration = new Configuration(new PngConfigurationModule(), new JpegConfigurationModule())
        {
            MemoryAllocator = allocator,
        };
        configuration.ImageFormatsManager.SetDecoder(PngFormat.Instance, png);
        configuration.ImageFormatsManager.SetDecoder(JpegFormat.Instance, jpeg);
    }

    public ImageLimits Limits { get; }

    public Configuration Configuration => configuration;

    /// <summary>Decodes to RGB after checking format and size; throws <see cref="ImageRejectedException"/> with a reason.</summary>
    public Image<Rgb24> DecodeRgb(Stream stream) => DecodeRgb(stream, CancellationToken.None);

    /// <inheritdoc cref="DecodeRgb(Stream)"/>
    public Image<Rgb24> DecodeRgb(Stream stream, CancellationToken cancellationToken)
    {
        if (stream.CanSeek && stream.Length - stream.Position > Limits.MaxBytes)
            throw new ImageRejectedException(ImageRejection.TooLargeBytes, $"file is {stream.Length:N0} bytes, the limit is {Limits.MaxBytes:N0}");
        return DecodeRgb(ReadBounded(stream, cancellationToken), cancellationToken);
    }

    /// <summary>Decodes a file's bytes; throws <see cref="ImageRejectedException"/> with a reason.</summary>
    public Image<Rgb24> DecodeRgb(byte[] bytes, CancellationToken cancellationToken = default)
    {
        if (bytes.LongLength > Limits.MaxBytes)
            throw new ImageRejectedException(ImageRejection.TooLargeBytes, $"file is {bytes.LongLength:N0} bytes, the limit is {Limits.MaxBytes:N0}");
        IImageDecoder decoder;
        switch (ImageSniffer.Sniff(bytes))
        {
            case SniffedFormat.Png:
                bytes = PngChunks.Sanitize(bytes).Png;
                decoder = png;
                break;
            case SniffedFormat.Jpeg:
                decoder = jpeg;
                break;
            default:
                throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "not a PNG or JPEG image");
        }

        using var budget = allocator.Begin(Limits.MaxDecodeBytes);
        try
        {
            IImageInfo? info;
            try
            {
                info = ((IImageInfoDetector)decoder).Identify(configuration, new MemoryStream(bytes, writable: false), cancellationToken);
            }
            catch (Exception ex) when (!OutOfMemory(ex) && ex is InvalidImageContentException or ImageFormatException or InvalidDataException or EndOfStreamException or UnknownImageFormatException)
            {
                throw new ImageRejectedException(ImageRejection.Corrupt, $"corrupt image header ({ex.Message})");
            }
            if (info is null) throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "not a PNG or JPEG image");
            if (info.Width > Limits.MaxWidth || info.Height > Limits.MaxHeight || (long)info.Width * info.Height > Limits.MaxPixels)
                throw new ImageRejectedException(ImageRejection.TooLargePixels, $"image is {info.Width}x{info.Height} pixels, the limit is {Limits.MaxWidth}x{Limits.MaxHeight} and {Limits.MaxPixels:N0} pixels");
            try
            {
                return decoder.Decode<Rgb24>(configuration, new MemoryStream(bytes, writable: false), cancellationToken);
            }
            catch (Exception ex) when (!OutOfMemory(ex) && ex is InvalidImageContentException or ImageFormatException or InvalidDataException or EndOfStreamException)
            {
                throw new ImageRejectedException(ImageRejection.Corrupt, $"corrupt or truncated image ({ex.Message})");
            }
        }
        catch (Exception ex) when (OutOfMemory(ex))
        {
            // One file's decode ran out of its budget (or the machine of memory): that file's rejection, nothing more.
            throw new ImageRejectedException(ImageRejection.TooLargePixels,
                $"too large to decode within {Limits.MaxDecodeBytes / (1024 * 1024):N0} MB (needed {Math.Max(budget.Peak, budget.LastRequest) / (1024 * 1024):N0} MB or more)");
        }
    }

    /// <summary>Out of the decode's budget or of memory, raw or as ImageSharp wraps it (InvalidImageContentException around InvalidMemoryOperationException).</summary>
    private static bool OutOfMemory(Exception ex) =>
        ex is InvalidMemoryOperationException or OutOfMemoryException || ex.InnerException is InvalidMemoryOperationException or OutOfMemoryException;

    /// <summary>Decodes a regular file; a FIFO, device or socket is refused without being opened (see <see cref="UntrustedFiles"/>).</summary>
    public Image<Rgb24> DecodeRgb(string path) => DecodeRgb(path, CancellationToken.None);

    /// <inheritdoc cref="DecodeRgb(string)"/>
    public Image<Rgb24> DecodeRgb(string path, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            using var stream = UntrustedFiles.OpenRegular(path);
            if (stream.Length > Limits.MaxBytes)
                throw new ImageRejectedException(ImageRejection.TooLargeBytes, $"file is {stream.Length:N0} bytes, the limit is {Limits.MaxBytes:N0}");
            bytes = ReadBounded(stream, cancellationToken);
        }
        catch (NotARegularFileException ex)
        {
            throw new ImageRejectedException(ImageRejection.NotAnImage, ex.Reason);
        }
        return DecodeRgb(bytes, cancellationToken);
    }

    /// <summary>Reads at most <see cref="ImageLimits.MaxBytes"/>, in 80 KB chunks, checking for cancellation between them.</summary>
    private byte[] ReadBounded(Stream stream, CancellationToken cancellationToken)
    {
        if (stream is MemoryStream ms && ms.TryGetBuffer(out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length && ms.Position == 0)
            return segment.Array; // a whole-array stream (the importer's): no copy
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (buffer.Length + read > Limits.MaxBytes)
                throw new ImageRejectedException(ImageRejection.TooLargeBytes, $"file is over the limit of {Limits.MaxBytes:N0} bytes");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}

public enum ImageRejection
{
    NotAnImage,
    UnsupportedFormat,
    Corrupt,
    TooLargeBytes,
    TooLargePixels,
    /// <summary>Metadata (PNG text or profile) that would inflate past its limit.</summary>
    UnsafeMetadata,
}

public sealed class ImageRejectedException(ImageRejection reason, string message) : Exception(message)
{
    public ImageRejection Reason { get; } = reason;
}
