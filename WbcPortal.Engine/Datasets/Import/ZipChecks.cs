using System.Buffers.Binary;

namespace WbcPortal.Engine.Datasets.Import;

/// <summary>
/// Checks of a zip that System.IO.Compression does not make: the entry count read from the end-of-central-directory
/// record before any entry is read (a million empty entries are refused from 22 bytes, not after parsing a 100 MB
/// directory), and each entry's CRC-32 checked as it is read.
/// </summary>
public static class ZipChecks
{
    private const uint EndOfDirectory = 0x06054b50, Zip64Locator = 0x07064b50, Zip64EndOfDirectory = 0x06064b50;

    /// <summary>
    /// The number of entries the archive's end-of-central-directory record (zip64 when it says so) declares, or null when
    /// none is found (then the archive reader refuses it anyway). Reads at most the last 64 KB and a zip64 record.
    /// </summary>
    public static long? DeclaredEntryCount(Stream zip)
    {
        if (!zip.CanSeek || zip.Length < 22) return null;
        int tailLength = (int)Math.Min(zip.Length, 22 + 65535);
        var tail = new byte[tailLength];
        zip.Seek(-tailLength, SeekOrigin.End);
        zip.ReadExactly(tail);
        for (int i = tailLength - 22; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) != EndOfDirectory) continue;
            long count = BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 10));
            if (count != 0xFFFF || i < 20 || BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i - 20)) != Zip64Locator) return count;
            long recordOffset = BinaryPrimitives.ReadInt64LittleEndian(tail.AsSpan(i - 20 + 8));
            if (recordOffset < 0 || recordOffset > zip.Length - 56) return count;
            var record = new byte[56];
            zip.Seek(recordOffset, SeekOrigin.Begin);
            zip.ReadExactly(record);
            if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Zip64EndOfDirectory) return count;
            ulong total = BinaryPrimitives.ReadUInt64LittleEndian(record.AsSpan(32));
            return total > long.MaxValue ? long.MaxValue : (long)total;
        }
        return null;
    }

    /// <summary>Refuses a zip that declares more than <paramref name="maxEntries"/> entries, before its directory is read.</summary>
    public static void CheckEntryCount(Stream zip, int maxEntries)
    {
        long position = zip.CanSeek ? zip.Position : 0;
        long? count = DeclaredEntryCount(zip);
        if (zip.CanSeek) zip.Position = position;
        if (count > maxEntries) throw new InvalidDataException($"The zip holds {count:N0} entries; the limit is {maxEntries:N0}.");
    }

    /// <summary>The CRC-32 (ISO-HDLC, the zip one) of <paramref name="data"/>, continuing from <paramref name="crc"/>.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data, uint crc = 0)
    {
        crc = ~crc;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
