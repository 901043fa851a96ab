namespace WbcPortal.Engine.Imaging;

public enum SniffedFormat
{
    Unknown,
    Jpeg,
    Png,
    /// <summary>An image, but not one the portal accepts (GIF, BMP, WebP, TIFF, ...).</summary>
    OtherImage,
}

/// <summary>Tells images from other files by their first bytes, before any decoder sees them.</summary>
public static class ImageSniffer
{
    public static SniffedFormat Sniff(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return SniffedFormat.Jpeg;
        if (b.Length >= 8 && b[..8].SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A })) return SniffedFormat.Png;
        if (b.Length >= 4 && (b[..4].SequenceEqual("GIF8"u8) || b[..4].SequenceEqual("II*\0"u8) || b[..4].SequenceEqual("MM\0*"u8))) return SniffedFormat.OtherImage;
        if (b.Length >= 2 && b[..2].SequenceEqual("BM"u8)) return SniffedFormat.OtherImage;
        if (b.Length >= 12 && b[..4].SequenceEqual("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8)) return SniffedFormat.OtherImage;
        if (b.Length >= 12 && b[4..8].SequenceEqual("ftyp"u8)) return SniffedFormat.OtherImage; // HEIC/AVIF
        return SniffedFormat.Unknown;
    }

    /// <summary>True when a JPEG lacks its end-of-image marker or a PNG its IEND chunk near the end.</summary>
    public static bool LooksTruncated(ReadOnlySpan<byte> b, SniffedFormat format)
    {
        var tail = b[Math.Max(0, b.Length - 4096)..];
        return format switch
        {
            SniffedFormat.Jpeg => tail.IndexOf(new byte[] { 0xFF, 0xD9 }) < 0,
            SniffedFormat.Png => tail.IndexOf("IEND"u8) < 0,
            _ => false,
        };
    }

    /// <summary>
    /// The fewest bytes a well-formed file of these dimensions can have, so that a header edited to claim more pixels than
    /// the file holds (or a file cut short inside its data) is refused before the decoder fills the rest with grey:
    /// a Huffman-coded JPEG spends at least one bit on every 8x8 block of its first component (each block's DC code is one
    /// bit or more, in baseline and progressive scans alike); a PNG's IDAT is deflate, which cannot inflate more than
    /// 1,032 times (its rows are filter byte plus samples). Arithmetic-coded JPEGs can go below a bit a block: no floor.
    /// </summary>
    public static long LeastEncodedBytes(ReadOnlySpan<byte> b, SniffedFormat format, int width, int height, int bitsPerPixel)
    {
        switch (format)
        {
            case SniffedFormat.Jpeg:
                if (!IsHuffmanJpeg(b)) return 0;
                long blocks = ((width + 7L) / 8) * ((height + 7L) / 8);
                return blocks / 8;
            case SniffedFormat.Png:
                long raw = height * (1 + (width * (long)Math.Max(1, bitsPerPixel) + 7) / 8);
                return raw / 1032;
            default:
                return 0;
        }
    }

    /// <summary>True when the JPEG's first frame header (SOF) is Huffman-coded (SOF0-3, 5-7), walking the marker segments.</summary>
    private static bool IsHuffmanJpeg(ReadOnlySpan<byte> b)
    {
        int i = 2;
        while (i + 4 <= b.Length)
        {
            if (b[i] != 0xFF) return false;
            byte marker = b[i + 1];
            if (marker == 0xFF) { i++; continue; }
            if (marker is 0xD8 or 0x01 || marker is >= 0xD0 and <= 0xD7) { i += 2; continue; }
            if (marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC)) return marker is <= 0xC3 or (>= 0xC5 and <= 0xC7);
            if (marker is 0xDA or 0xD9) return false;
            int length = (b[i + 2] << 8) | b[i + 3];
            if (length < 2) return false;
            i += 2 + length;
        }
        return false;
    }
}
