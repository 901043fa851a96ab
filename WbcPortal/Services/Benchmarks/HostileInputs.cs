using System.Buffers.Binary;
using System.IO.Compression;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// Hostile files made on the spot (for the <c>decode-memory</c> bench and the tests): progressive JPEG decompression bombs,
/// truncated and edited headers, a zip entry that inflates to a chosen size at a modest ratio.
/// </summary>
public static class HostileInputs
{
    /// <summary>
    /// A valid progressive JPEG (SOF2) of <paramref name="width"/> x <paramref name="height"/> pixels holding only its DC
    /// scan, one bit a block: a 40 MP image is ~230 KB, and decoding it makes the decoder hold every coefficient
    /// (2 bytes a sample) and the RGB result. Four components with an Adobe marker make it CMYK; one makes it grayscale.
    /// </summary>
    public static byte[] ProgressiveJpeg(int width, int height, int components = 3)
    {
        using var ms = new MemoryStream();
        void Marker(byte m, ReadOnlySpan<byte> payload)
        {
            ms.WriteByte(0xFF);
            ms.WriteByte(m);
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)(payload.Length + 2));
            ms.Write(length);
            ms.Write(payload);
        }
        ms.Write([0xFF, 0xD8]);
        if (components == 4) Marker(0xEE, [(byte)'A', (byte)'d', (byte)'o', (byte)'b', (byte)'e', 0, 100, 0, 0, 0, 0, 0]); // transform 0: CMYK
        var dqt = new byte[65];
        Array.Fill(dqt, (byte)1, 1, 64);
        Marker(0xDB, dqt);
        var sof = new List<byte> { 8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, (byte)components };
        for (int c = 0; c < components; c++) sof.AddRange([(byte)(c + 1), 0x11, 0]);
        Marker(0xC2, sof.ToArray());
        // One DC code: category 0 (no difference), one bit long.
        var dht = new byte[18];
        dht[1] = 1;
        Marker(0xC4, dht);
        var sos = new List<byte> { (byte)components };
        for (int c = 0; c < components; c++) sos.AddRange([(byte)(c + 1), 0x00]);
        sos.AddRange([0, 0, 0]);
        Marker(0xDA, sos.ToArray());
        long bits = (long)((width + 7) / 8) * ((height + 7) / 8) * components;
        ms.Write(new byte[bits / 8]);
        if (bits % 8 != 0) ms.WriteByte((byte)(0xFF >> (int)(bits % 8)));
        ms.Write([0xFF, 0xD9]);
        return ms.ToArray();
    }

    /// <summary>The file without its last <paramref name="bytes"/> bytes (its end marker gone).</summary>
    public static byte[] Truncated(byte[] file, int bytes = 16) => file[..Math.Max(0, file.Length - bytes)];

    /// <summary>A JPEG whose frame header (SOF) is edited to claim <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static byte[] WithJpegDimensions(byte[] jpeg, int width, int height)
    {
        var copy = (byte[])jpeg.Clone();
        for (int i = 2; i + 9 < copy.Length;)
        {
            if (copy[i] != 0xFF) break;
            byte marker = copy[i + 1];
            if (marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC))
            {
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 5), (ushort)height);
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 7), (ushort)width);
                return copy;
            }
            i += 2 + BinaryPrimitives.ReadUInt16BigEndian(copy.AsSpan(i + 2));
        }
        throw new ArgumentException("no frame header found", nameof(jpeg));
    }

    /// <summary>
    /// Writes a zip at <paramref name="zipPath"/> with <paramref name="name"/> inflating to <paramref name="bytes"/> bytes at a
    /// ratio of about 45:1 (each 4 KB holds 48 random bytes): under any ratio check, caught only by a size limit.
    /// </summary>
    public static void LargeEntryZip(string zipPath, string name, long bytes, params (string Name, byte[] Bytes)[] others)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Create);
        foreach (var (otherName, content) in others)
        {
            using var s = zip.CreateEntry(otherName).Open();
            s.Write(content);
        }
        using var stream = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
        var block = new byte[4096];
        var random = new Random(7);
        for (long written = 0; written < bytes; written += block.Length)
        {
            random.NextBytes(block.AsSpan(0, 48));
            stream.Write(block, 0, (int)Math.Min(block.Length, bytes - written));
        }
    }
}
