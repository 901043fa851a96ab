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
}
