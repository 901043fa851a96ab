using System.IO.Compression;
using WbcPortal.Engine.Imaging;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Imaging;

/// <summary>The PNG chunk walker: structure checked, only what decoding needs kept, metadata bombs refused before any inflation by ImageSharp.</summary>
public class PngChunksTests
{
    private static readonly byte[] Plain = ImportFixtures.Png(3);

    private static byte[] Zlib(byte[] data)
    {
        var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
        return ms.ToArray();
    }

    [Fact]
    public void The_crc_is_the_png_one() => Assert.Equal(0xAE426082u, PngChunks.Crc("IEND"u8));

    [Fact]
    public void A_plain_png_is_walked_and_returned_as_it_is()
    {
        var chunks = PngChunks.Walk(Plain);
        Assert.Equal("IHDR", chunks[0].Type);
        Assert.Equal("IEND", chunks[^1].Type);
        Assert.Contains(chunks, c => c.Type == "IDAT");
        var result = PngChunks.Sanitize(Plain);
        Assert.Same(Plain, result.Png);
        Assert.False(result.Changed);
    }

    [Fact]
    public void Text_profile_exif_and_unknown_chunks_are_dropped_and_pixel_chunks_kept()
    {
        var png = PngBombs.WithChunks(Plain,
            PngBombs.Chunk("tEXt", "Comment\0hello"u8),
            PngBombs.Chunk("zTXt", PngBombs.ZtxtData("Comment", Zlib(new byte[1000]))),
            PngBombs.Chunk("iTXt", PngBombs.ItxtData("Title", "plain"u8.ToArray(), compressed: false)),
            PngBombs.Chunk("iCCP", PngBombs.ZtxtData("profile", Zlib(new byte[3000]))),
            PngBombs.Chunk("eXIf", new byte[40]),
            PngBombs.Chunk("prVt", new byte[10]),
            PngBombs.Chunk("gAMA", [0, 0, 0xB1, 0x8F]),
            PngBombs.Chunk("pHYs", new byte[9]),
            PngBombs.Chunk("sRGB", new byte[2])); // wrong length: dropped
        var result = PngChunks.Sanitize(png);
        Assert.Equal(["tEXt", "zTXt", "iTXt", "iCCP", "eXIf", "prVt", "sRGB"], result.Dropped);
        Assert.Equal(["IHDR", "gAMA", "pHYs", "IDAT", "IEND"], result.Kept);
        Assert.Equal(["IHDR", "gAMA", "pHYs", "IDAT", "IEND"], PngChunks.Walk(result.Png).Select(c => c.Type).Distinct());
        using var image = new ImageDecoding(ImageLimits.Default).DecodeRgb(png, TestContext.Current.CancellationToken);
        Assert.Equal((64, 48), (image.Width, image.Height));
    }

    [Theory]
    [InlineData("zTXt")]
    [InlineData("iTXt")]
    [InlineData("iCCP")]
    public void Compressed_metadata_that_inflates_past_1_MB_is_refused_without_inflating_it_all(string type)
    {
        var zlib = PngBombs.ZlibOfZeros(256L << 20); // 256 MB of zeros in ~250 KB
        byte[] data = type == "iTXt" ? PngBombs.ItxtData("XML:com.adobe.xmp", zlib, compressed: true) : PngBombs.ZtxtData("k", zlib);
        var png = PngBombs.WithChunks(Plain, PngBombs.Chunk(type, data));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<ImageRejectedException>(() => PngChunks.Sanitize(png));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(ImageRejection.UnsafeMetadata, ex.Reason);
        Assert.Contains($"chunk {type} inflates to more than 1 MB", ex.Message);
        Assert.InRange(allocated, 0, 4L << 20); // counted by streaming, never held
    }

    [Fact]
    public void Small_compressed_metadata_adds_up_to_the_limit_across_chunks()
    {
        var half = PngBombs.Chunk("zTXt", PngBombs.ZtxtData("a", Zlib(new byte[600_000])));
        Assert.True(PngChunks.Sanitize(PngBombs.WithChunks(Plain, half)).Changed);
        var ex = Assert.Throws<ImageRejectedException>(() => PngChunks.Sanitize(PngBombs.WithChunks(Plain, half, half)));
        Assert.Equal(ImageRejection.UnsafeMetadata, ex.Reason);
    }

    [Fact]
    public void A_large_uncompressed_text_is_dropped_not_refused()
    {
        var png = PngBombs.WithChunks(Plain, PngBombs.Chunk("iTXt", PngBombs.ItxtData("XML:com.adobe.xmp", new byte[3 << 20], compressed: false)));
        var result = PngChunks.Sanitize(png);
        Assert.Equal(["iTXt"], result.Dropped);
        Assert.Equal(Plain.Length, result.Png.Length);
    }

    [Fact]
    public void Bytes_after_IEND_are_dropped()
    {
        var result = PngChunks.Sanitize([.. Plain, .. "trailing garbage"u8]);
        Assert.Equal(Plain, result.Png);
        Assert.Equal(["bytes after IEND"], result.Dropped);
    }

    public static TheoryData<string, string> Malformed()
    {
        var plain = Plain;
        var pastEnd = (byte[])plain.Clone();
        pastEnd[8 + 25 + 0] = 0x7F; // the chunk after IHDR claims ~2 GB
        var badType = (byte[])plain.Clone();
        badType[8 + 25 + 4] = (byte)'1';
        var badCrc = (byte[])plain.Clone();
        badCrc[^20] ^= 0xFF; // inside the IDAT data
        var noIend = plain[..^12];
        var critical = PngBombs.WithChunks(plain, PngBombs.Chunk("XYZW", new byte[4]));
        byte[] noIdat = [.. plain.AsSpan(0, 8 + 25), .. plain.AsSpan(plain.Length - 12)];
        byte[] ihdrNotFirst = [.. plain.AsSpan(0, 8), .. PngBombs.Chunk("gAMA", new byte[4]), .. plain.AsSpan(8)];
        return new TheoryData<string, string>
        {
            { Convert.ToBase64String(pastEnd), "past the end of the file" },
            { Convert.ToBase64String(badType), "not a chunk type" },
            { Convert.ToBase64String(badCrc), "chunk IDAT fails its CRC" },
            { Convert.ToBase64String(noIend), "no IEND chunk" },
            { Convert.ToBase64String(critical), "unknown critical chunk XYZW" },
            { Convert.ToBase64String(noIdat), "no IDAT chunk" },
            { Convert.ToBase64String(ihdrNotFirst), "the first chunk is not a 13-byte IHDR" },
            { Convert.ToBase64String(plain[..7]), "not a PNG signature" },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_png_is_refused_as_corrupt_with_where_it_breaks(string base64, string why)
    {
        var ex = Assert.Throws<ImageRejectedException>(() => PngChunks.Sanitize(Convert.FromBase64String(base64)));
        Assert.Equal(ImageRejection.Corrupt, ex.Reason);
        Assert.Contains(why, ex.Message);
        Assert.StartsWith("malformed PNG: ", ex.Message);
    }

    [Fact]
    public void Random_garbage_after_the_signature_never_escapes_as_another_exception()
    {
        var rng = new Random(5);
        int rejected = 0;
        for (int i = 0; i < 500; i++)
        {
            var bytes = (byte[])Plain.Clone();
            for (int k = 0; k < 4; k++) bytes[rng.Next(8, bytes.Length)] = (byte)rng.Next(256);
            try
            {
                PngChunks.Sanitize(bytes);
            }
            catch (ImageRejectedException)
            {
                rejected++;
            }
        }
        Assert.InRange(rejected, 1, 500); // most flips hit a CRC-checked chunk; none escapes as another exception
    }

    [Fact]
    public void The_test_bomb_is_a_valid_zlib_stream_of_exactly_that_many_zeros()
    {
        var zlib = PngBombs.ZlibOfZeros(64L << 20);
        Assert.InRange(zlib.Length, 1, 128 * 1024);
        using var inflate = new ZLibStream(new MemoryStream(zlib), CompressionMode.Decompress);
        var buffer = new byte[1 << 20];
        long total = 0;
        int read;
        while ((read = inflate.Read(buffer)) > 0)
        {
            Assert.True(buffer.AsSpan(0, read).IndexOfAnyExcept((byte)0) < 0);
            total += read;
        }
        Assert.Equal(64L << 20, total); // and zlib checked the Adler-32 at the end
    }
}
