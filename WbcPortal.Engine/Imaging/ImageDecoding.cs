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

    /// <summary>A decoder with a budget of its own (tools and tests); the portal and the verbs share one process-wide <see cref="DecodeBudget"/>.</summary>
    public ImageDecoding(ImageLimits limits)
        : this(limits, new DecodeBudget(Math.Max(1024L * 1024 * 1024, limits.MaxDecodeBytes), TimeSpan.FromSeconds(10)))
    {
    }

    public ImageDecoding(ImageLimits limits, DecodeBudget budget)
    {
        Limits = limits;
        Budget = budget;
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

    /// <summary>Decodes a file's bytes for background work (waits for room in the process's decode budget); throws <see cref="ImageRejectedException"/> with a reason.</summary>
    public Image<Rgb24> DecodeRgb(byte[] bytes, CancellationToken cancellationToken = default) => DecodeRgb(bytes, DecodeWait.UntilFree, cancellationToken);

    /// <summary>
    /// Decodes a file's bytes: the header is checked first, then the decode's worst case is reserved in the process's
    /// <see cref="DecodeBudget"/> (waiting as <paramref name="wait"/> says; <see cref="DecodeBudgetBusyException"/> when a
    /// request waited its time) and held until the returned image is disposed.
    /// </summary>
    public Image<Rgb24> DecodeRgb(byte[] bytes, DecodeWait wait, CancellationToken cancellationToken)
    {
        var header = Inspect(bytes, cancellationToken);
        return Decode(header, Budget.Reserve(header.WorstCaseBytes, wait, cancellationToken), cancellationToken);
    }

    /// <summary>As <see cref="DecodeRgb(byte[], DecodeWait, CancellationToken)"/>, without holding a thread while it waits for room.</summary>
    public async Task<Image<Rgb24>> DecodeRgbAsync(byte[] bytes, DecodeWait wait, CancellationToken cancellationToken)
    {
        var header = Inspect(bytes, cancellationToken);
        var reservation = await Budget.ReserveAsync(header.WorstCaseBytes, wait, cancellationToken);
        return Decode(header, reservation, cancellationToken);
    }

    /// <summary>The process-wide budget every decode of this decoder reserves from.</summary>
    public DecodeBudget Budget { get; }

    /// <summary>
    /// The most one decode of a <paramref name="width"/> x <paramref name="height"/> image with <paramref name="bitsPerPixel"/>
    /// (as its header says) allocates: per component sample 2 bytes of JPEG coefficients (a progressive file holds them all),
    /// the 3-byte RGB result, 1 byte of strips and tables, on dimensions padded to whole 32-pixel MCUs, plus 2 MB; never more
    /// than <see cref="ImageLimits.MaxDecodeBytes"/>, which stays the limit of one decode.
    /// </summary>
    public long WorstCaseBytes(int width, int height, int bitsPerPixel, SniffedFormat format)
    {
        long pixels = (((long)width + 31) & ~31L) * (((long)height + 31) & ~31L);
        int components = Math.Clamp((bitsPerPixel + 7) / 8, 1, 4);
        long perPixel = format == SniffedFormat.Jpeg ? 2L * components + 3 + 1 : 3 + 1;
        return Math.Min(Limits.MaxDecodeBytes, pixels * perPixel + 2L * 1024 * 1024);
    }

    /// <summary>A file's checked header: the bytes to decode (PNG rewritten), its decoder, dimensions and worst-case decode bytes.</summary>
    private sealed record Header(byte[] Bytes, IImageDecoder Decoder, int Width, int Height, long WorstCaseBytes);

    /// <summary>
    /// Every check that needs no pixel: size, format, truncation (a JPEG without its end marker, a PNG without IEND), PNG
    /// structure and metadata, dimensions within the limits, and a file large enough to hold the pixels its header claims
    /// (an edited header, or a file cut short); throws <see cref="ImageRejectedException"/> with a reason.
    /// </summary>
    private Header Inspect(byte[] bytes, CancellationToken cancellationToken)
    {
        if (bytes.LongLength > Limits.MaxBytes)
            throw new ImageRejectedException(ImageRejection.TooLargeBytes, $"file is {bytes.LongLength:N0} bytes, the limit is {Limits.MaxBytes:N0}");
        if (bytes.Length == 0) throw new ImageRejectedException(ImageRejection.NotAnImage, "the file is empty");
        IImageDecoder decoder;
        var format = ImageSniffer.Sniff(bytes);
        switch (format)
        {
            case SniffedFormat.Png:
                if (ImageSniffer.LooksTruncated(bytes, format)) throw new ImageRejectedException(ImageRejection.Corrupt, "truncated: the image's end marker is missing");
                bytes = PngChunks.Sanitize(bytes).Png;
                decoder = png;
                break;
            case SniffedFormat.Jpeg:
                if (ImageSniffer.LooksTruncated(bytes, format)) throw new ImageRejectedException(ImageRejection.Corrupt, "truncated: the image's end marker is missing");
                decoder = jpeg;
                break;
            case SniffedFormat.OtherImage:
                throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "unsupported image format: use JPEG or PNG");
            default:
                throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "not a PNG or JPEG image");
        }

        IImageInfo? info;
        using (allocator.Begin(Limits.MaxDecodeBytes))
        {
            try
            {
                info = ((IImageInfoDetector)decoder).Identify(configuration, new MemoryStream(bytes, writable: false), cancellationToken);
            }
            catch (Exception ex) when (OutOfMemory(ex))
            {
                throw new ImageRejectedException(ImageRejection.Corrupt, "corrupt image header (it asks for more memory than a header may)");
            }
            catch (Exception ex) when (ex is InvalidImageContentException or ImageFormatException or InvalidDataException or EndOfStreamException or UnknownImageFormatException)
            {
                throw new ImageRejectedException(ImageRejection.Corrupt, $"corrupt image header ({ex.Message})");
            }
        }
        if (info is null) throw new ImageRejectedException(ImageRejection.UnsupportedFormat, "not a PNG or JPEG image");
        if (info.Width > Limits.MaxWidth || info.Height > Limits.MaxHeight || (long)info.Width * info.Height > Limits.MaxPixels)
            throw new ImageRejectedException(ImageRejection.TooLargePixels, $"image is {info.Width}x{info.Height} pixels, the limit is {Limits.MaxWidth}x{Limits.MaxHeight} and {Limits.MaxPixels:N0} pixels");
        long least = ImageSniffer.LeastEncodedBytes(bytes, format, info.Width, info.Height, info.PixelType?.BitsPerPixel ?? 8);
        if (bytes.LongLength < least)
            throw new ImageRejectedException(ImageRejection.Corrupt,
                $"the file is {bytes.LongLength:N0} bytes, too small for the {info.Width}x{info.Height} pixels its header claims (at least {least:N0}): an edited header or a file cut short");
        return new Header(bytes, decoder, info.Width, info.Height, WorstCaseBytes(info.Width, info.Height, info.PixelType?.BitsPerPixel ?? 24, format));
    }

    /// <summary>Decodes a checked file within its reservation, which then stays with the image until it is disposed.</summary>
    private Image<Rgb24> Decode(Header header, DecodeReservation reservation, CancellationToken cancellationToken)
    {
        var budget = allocator.Begin(header.WorstCaseBytes, reservation);
        try
        {
            try
            {
                return header.Decoder.Decode<Rgb24>(configuration, new MemoryStream(header.Bytes, writable: false), cancellationToken);
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
                $"too large to decode within {header.WorstCaseBytes / (1024 * 1024):N0} MB (needed {Math.Max(budget.Peak, budget.LastRequest) / (1024 * 1024):N0} MB or more)");
        }
        finally
        {
            // Ends the count: the reservation shrinks to the result's buffers (all of it goes back on failure).
            budget.Dispose();
        }
    }

    /// <summary>Out of the decode's budget or of memory, raw or as ImageSharp wraps it (InvalidImageContentException around InvalidMemoryOperationException).</summary>
    private static bool OutOfMemory(Exception ex) =>
        ex is InvalidMemoryOperationException or OutOfMemoryException || ex.InnerException is InvalidMemoryOperationException or OutOfMemoryException;

    /// <summary>Decodes a regular file; a FIFO, device or socket is refused without being opened (see <see cref="UntrustedFiles"/>).</summary>
    public Image<Rgb24> DecodeRgb(string path) => DecodeRgb(path, CancellationToken.None);

    /// <inheritdoc cref="DecodeRgb(string)"/>
    public Image<Rgb24> DecodeRgb(string path, CancellationToken cancellationToken) => DecodeRgb(ReadFile(path, cancellationToken), cancellationToken);

    /// <summary>
    /// The bytes of an untrusted image file, read under <see cref="ImageLimits.MaxBytes"/> (a link, FIFO or device is refused
    /// with <see cref="ImageRejectedException"/>), for a caller that needs them as well as the decoded image (a content hash).
    /// </summary>
    public byte[] ReadFile(string path, CancellationToken cancellationToken = default)
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
        return bytes;
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
