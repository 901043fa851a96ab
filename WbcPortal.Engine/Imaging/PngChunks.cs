using System.Buffers.Binary;
using System.IO.Compression;

namespace WbcPortal.Engine.Imaging;

/// <summary>
/// Walks a PNG's chunks before any decoder sees them and rewrites it with only what decoding needs, so no text,
/// profile or unknown chunk is ever inflated by ImageSharp (2.1.13 inflates zTXt/iTXt outside its allocation limit).
/// <list type="bullet">
/// <item>Structure: the signature, then chunks whose length (at most 2^31-1) and CRC lie within the file, IHDR first
/// (13 bytes), at least one IDAT, an IEND; at most <see cref="MaxChunks"/> chunks; an unknown critical chunk is refused.
/// Bytes after IEND are dropped.</item>
/// <item>Kept: IHDR, PLTE, IDAT, IEND (their CRC checked), tRNS, and gAMA / cHRM / sRGB / pHYs at their fixed lengths.</item>
/// <item>Dropped: everything else (tEXt, zTXt, iTXt, iCCP, eXIf, tIME, sPLT, APNG frames, unknown ancillary chunks).</item>
/// <item>Compressed metadata (zTXt, iTXt with its compression flag, iCCP) is measured by streaming inflation into a counter
/// (64 KB buffer, nothing kept), stopping at <see cref="MaxInflatedMetadataBytes"/> in total: a file over it is refused,
/// because the stored original is later served to browsers and read by other tools.</item>
/// </list>
/// </summary>
public static class PngChunks
{
    /// <summary>Compressed text and profiles may inflate to this much in total (1 MB); more is a metadata bomb.</summary>
    public const int MaxInflatedMetadataBytes = 1 << 20;

    /// <summary>More chunks than this is not an image a microscope or an editor writes.</summary>
    public const int MaxChunks = 100_000;

    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>A chunk: its type, where its data starts in the file and how long it is.</summary>
    public readonly record struct Chunk(string Type, int DataOffset, int Length)
    {
        /// <summary>Length, type, data and CRC.</summary>
        public int TotalLength => Length + 12;
    }

    /// <summary>What <see cref="Sanitize"/> kept and dropped.</summary>
    public sealed record Result(byte[] Png, IReadOnlyList<string> Kept, IReadOnlyList<string> Dropped)
    {
        public bool Changed => Dropped.Count > 0;
    }

    /// <summary>The chunks of <paramref name="png"/> up to IEND, structure checked; throws <see cref="ImageRejectedException"/> (corrupt).</summary>
    public static IReadOnlyList<Chunk> Walk(ReadOnlySpan<byte> png)
    {
        if (png.Length < Signature.Length || !png[..Signature.Length].SequenceEqual(Signature)) throw Corrupt("not a PNG signature");
        var chunks = new List<Chunk>();
        int pos = Signature.Length;
        bool sawEnd = false;
        while (!sawEnd)
        {
            if (png.Length - pos < 12) throw Corrupt(chunks.Count == 0 ? "no IHDR chunk" : "truncated: no IEND chunk");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            var typeBytes = png.Slice(pos + 4, 4);
            foreach (byte b in typeBytes)
            {
                if (b is not ((>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z'))) throw Corrupt($"garbage at byte {pos:N0} (not a chunk type)");
            }
            string type = System.Text.Encoding.ASCII.GetString(typeBytes);
            if (length > int.MaxValue || length > (uint)(png.Length - pos - 12))
                throw Corrupt($"chunk {type} at byte {pos:N0} claims {length:N0} bytes, past the end of the file");
            if (chunks.Count >= MaxChunks) throw Corrupt($"more than {MaxChunks:N0} chunks");
            if (chunks.Count == 0 && (type != "IHDR" || length != 13)) throw Corrupt("the first chunk is not a 13-byte IHDR");
            chunks.Add(new Chunk(type, pos + 8, (int)length));
            pos += 12 + (int)length;
            sawEnd = type == "IEND";
        }
        if (!chunks.Any(c => c.Type == "IDAT")) throw Corrupt("no IDAT chunk");
        return chunks;
    }

    /// <summary>
    /// The PNG rewritten with only the chunks decoding needs (the same array when nothing is dropped); throws
    /// <see cref="ImageRejectedException"/> for a malformed file or compressed metadata over <see cref="MaxInflatedMetadataBytes"/>.
    /// </summary>
    public static Result Sanitize(byte[] png)
    {
        var chunks = Walk(png);
        var kept = new List<Chunk>(chunks.Count);
        var dropped = new List<string>();
        long inflated = 0;
        foreach (var c in chunks)
        {
            if (IsCritical(c.Type))
            {
                if (c.Type is not ("IHDR" or "PLTE" or "IDAT" or "IEND")) throw Corrupt($"unknown critical chunk {c.Type}");
                if (Crc(png.AsSpan(c.DataOffset - 4, c.Length + 4)) != BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(c.DataOffset + c.Length)))
                    throw Corrupt($"chunk {c.Type} fails its CRC");
                kept.Add(c);
                continue;
            }
            if (KeepAncillary(c))
            {
                kept.Add(c);
                continue;
            }
            dropped.Add(c.Type);
            if (CompressedPayload(png, c) is { } payload)
            {
                inflated += InflatedLength(png, payload.Offset, payload.Length, MaxInflatedMetadataBytes - inflated + 1);
                if (inflated > MaxInflatedMetadataBytes)
                {
                    string what = c.Type == "iCCP" ? "colour profile" : "text";
                    throw new ImageRejectedException(ImageRejection.UnsafeMetadata,
                        $"PNG {what} chunk {c.Type} inflates to more than {MaxInflatedMetadataBytes / (1024 * 1024)} MB of metadata (a decompression bomb)");
                }
            }
        }
        int end = chunks[^1].DataOffset + chunks[^1].Length + 4;
        var names = kept.Select(c => c.Type).Distinct().ToList();
        if (dropped.Count == 0 && end == png.Length) return new Result(png, names, dropped);

        var output = new byte[Signature.Length + kept.Sum(c => (long)c.TotalLength)];
        png.AsSpan(0, Signature.Length).CopyTo(output);
        int at = Signature.Length;
        foreach (var c in kept)
        {
            png.AsSpan(c.DataOffset - 8, c.TotalLength).CopyTo(output.AsSpan(at));
            at += c.TotalLength;
        }
        if (end != png.Length) dropped.Add("bytes after IEND");
        return new Result(output, names, dropped);
    }

    private static bool IsCritical(string type) => char.IsAsciiLetterUpper(type[0]);

    private static bool KeepAncillary(Chunk c) => c.Type switch
    {
        "tRNS" => true,
        "gAMA" => c.Length == 4,
        "cHRM" => c.Length == 32,
        "sRGB" => c.Length == 1,
        "pHYs" => c.Length == 9,
        _ => false,
    };

    /// <summary>Where the zlib stream of a zTXt, compressed iTXt or iCCP chunk starts, or null when it has none.</summary>
    private static (int Offset, int Length)? CompressedPayload(byte[] png, Chunk c)
    {
        var data = png.AsSpan(c.DataOffset, c.Length);
        int keywordEnd = data.IndexOf((byte)0);
        if (keywordEnd < 0) return null;
        switch (c.Type)
        {
            case "zTXt":
            case "iCCP":
                // keyword, NUL, compression method, zlib stream
                return keywordEnd + 2 <= data.Length ? (c.DataOffset + keywordEnd + 2, data.Length - keywordEnd - 2) : null;
            case "iTXt":
            {
                // keyword, NUL, compression flag, compression method, language tag, NUL, translated keyword, NUL, text
                int p = keywordEnd + 1;
                if (p + 2 > data.Length || data[p] == 0) return null;
                p += 2;
                int language = data[p..].IndexOf((byte)0);
                if (language < 0) return null;
                p += language + 1;
                int translated = data[p..].IndexOf((byte)0);
                if (translated < 0) return null;
                p += translated + 1;
                return (c.DataOffset + p, data.Length - p);
            }
            default:
                return null;
        }
    }

    /// <summary>How many bytes a zlib stream inflates to, counted up to <paramref name="stopAfter"/>; a malformed stream counts what it gave.</summary>
    private static long InflatedLength(byte[] png, int offset, int length, long stopAfter)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(png, offset, length, writable: false), CompressionMode.Decompress);
            int read;
            while (total < stopAfter && (read = zlib.Read(buffer, 0, buffer.Length)) > 0) total += read;
        }
        catch (InvalidDataException)
        {
            // A broken stream is dropped with its chunk; what it inflated to so far still counts.
        }
        return total;
    }

    private static ImageRejectedException Corrupt(string why) => new(ImageRejection.Corrupt, $"malformed PNG: {why}");

    private static readonly uint[] CrcTable = BuildCrcTable();

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    /// <summary>The PNG (ISO-HDLC) CRC-32 of the chunk type and data.</summary>
    public static uint Crc(ReadOnlySpan<byte> typeAndData)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in typeAndData) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
