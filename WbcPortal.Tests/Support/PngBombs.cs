using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Tests.Support;

/// <summary>PNGs with extra chunks, text-chunk decompression bombs, special files and peak memory of a process, made by the tests themselves.</summary>
public static class PngBombs
{
    private static readonly ConcurrentDictionary<long, Lazy<byte[]>> Zeros = new();

    /// <summary>
    /// A zlib stream that inflates to <paramref name="inflatedBytes"/> zeros (whole MiB), ~1 KB per MiB, made in
    /// milliseconds: one MiB compressed and sync-flushed, then the next MiB's byte-aligned blocks (which refer only to
    /// zeros already in the window) repeated, an empty final block and the Adler-32 of n zeros ((n mod 65521) &lt;&lt; 16 | 1).
    /// </summary>
    public static byte[] ZlibOfZeros(long inflatedBytes) => Zeros.GetOrAdd(inflatedBytes, n => new Lazy<byte[]>(() =>
    {
        const int Segment = 1 << 20;
        if (n < 2 * Segment || n % Segment != 0) throw new ArgumentOutOfRangeException(nameof(inflatedBytes), "whole MiB, at least 2");
        var zeros = new byte[Segment];
        var compressed = new MemoryStream();
        int first, second;
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            zlib.Write(zeros);
            zlib.Flush();
            first = (int)compressed.Length;
            zlib.Write(zeros);
            zlib.Flush();
            second = (int)compressed.Length; // before disposing writes the final block
        }
        var all = compressed.ToArray();
        var head = all.AsSpan(0, first);
        var repeat = all.AsSpan(first, second - first);
        var output = new MemoryStream();
        output.Write(head);
        for (long i = 1; i < n / Segment; i++) output.Write(repeat);
        output.Write([0x03, 0x00]); // an empty final block
        Span<byte> adler = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(adler, (uint)((n % 65521) << 16 | 1));
        output.Write(adler);
        return output.ToArray();
    })).Value;

    /// <summary>One chunk: length, type, data, CRC.</summary>
    public static byte[] Chunk(string type, ReadOnlySpan<byte> data)
    {
        var chunk = new byte[data.Length + 12];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        Encoding.ASCII.GetBytes(type).CopyTo(chunk, 4);
        data.CopyTo(chunk.AsSpan(8));
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), PngChunks.Crc(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }

    /// <summary>The PNG with <paramref name="chunks"/> inserted right after its IHDR (where encoders put metadata).</summary>
    public static byte[] WithChunks(byte[] png, params byte[][] chunks)
    {
        const int afterIhdr = 8 + 25;
        return [.. png.AsSpan(0, afterIhdr), .. chunks.SelectMany(c => c), .. png.AsSpan(afterIhdr)];
    }

    public static byte[] ZtxtData(string keyword, byte[] zlib) => [.. Encoding.Latin1.GetBytes(keyword), 0, 0, .. zlib];

    /// <summary>An iTXt chunk's data; compressed when <paramref name="compressed"/>.</summary>
    public static byte[] ItxtData(string keyword, byte[] text, bool compressed) =>
        [.. Encoding.Latin1.GetBytes(keyword), 0, compressed ? (byte)1 : (byte)0, 0, .. "en"u8, 0, 0, .. text];

    /// <summary>A small valid PNG plus a zTXt chunk whose ~1 MB payload inflates to <paramref name="inflatedBytes"/>.</summary>
    public static byte[] ZtxtBomb(byte[] png, long inflatedBytes = 1L << 30) =>
        WithChunks(png, Chunk("zTXt", ZtxtData("Comment", ZlibOfZeros(inflatedBytes))));

    /// <summary>A small valid PNG plus a compressed iTXt chunk (XMP's keyword) whose payload inflates to <paramref name="inflatedBytes"/>.</summary>
    public static byte[] ItxtBomb(byte[] png, long inflatedBytes = 1L << 30) =>
        WithChunks(png, Chunk("iTXt", ItxtData("XML:com.adobe.xmp", ZlibOfZeros(inflatedBytes), compressed: true)));

    /// <summary>Makes a FIFO at <paramref name="path"/> with <c>mkfifo</c>.</summary>
    public static void MakeFifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"mkfifo {path} failed ({p.ExitCode})");
    }

    /// <summary>A process's resident set now and at its peak (VmRSS, VmHWM in /proc), in bytes; null once it is gone.</summary>
    public static (long Rss, long Peak)? Memory(int pid)
    {
        try
        {
            long rss = 0, peak = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kb(line);
            }
            return peak == 0 ? null : (rss, peak);
        }
        catch (IOException)
        {
            return null;
        }
        static long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    /// <summary>Runs the portal executable to exit, polling its peak resident set (VmHWM) every 20 ms; kills it past <paramref name="timeout"/>. Output is stdout, Errors stderr.</summary>
    public static async Task<(int ExitCode, string Output, string Errors, long PeakBytes, TimeSpan Elapsed)> RunMeasuredAsync(TimeSpan timeout, params string[] args)
    {
        var watch = Stopwatch.StartNew();
        using var process = PortalProcess.Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long peak = 0;
        while (!process.HasExited)
        {
            if (Memory(process.Id) is { } m) peak = Math.Max(peak, m.Peak);
            if (watch.Elapsed > timeout)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new TimeoutException($"{string.Join(' ', args)} did not finish within {timeout.TotalSeconds:N0} s:\n{await stdout}{await stderr}");
            }
            await Task.Delay(20);
        }
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr, peak, watch.Elapsed);
    }
}
