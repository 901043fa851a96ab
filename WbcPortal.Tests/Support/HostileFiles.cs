using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Services.Benchmarks;

namespace WbcPortal.Tests.Support;

/// <summary>Small hostile and odd files by name, made on the spot (no shared data): the hostile-inputs table's files.</summary>
public static class HostileFiles
{
    public static byte[] Make(string kind) => kind switch
    {
        "good-jpeg" => ImportFixtures.Jpeg(11, 96, 72),
        "good-png" => ImportFixtures.Png(12, 96, 72),
        "cmyk-progressive" => HostileInputs.ProgressiveJpeg(96, 72, components: 4),
        "gray-progressive" => HostileInputs.ProgressiveJpeg(96, 72, components: 1),
        "gray-jpeg" => Encode(new Image<L8>(96, 72, new L8(120)), (i, s) => i.SaveAsJpeg(s, new JpegEncoder { ColorType = JpegColorType.Luminance })),
        "png-16bit" => Encode(new Image<Rgb48>(96, 72, new Rgb48(40000, 20000, 60000)), (i, s) => i.SaveAsPng(s, new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb })),
        "png-gray" => Encode(new Image<L8>(96, 72, new L8(90)), (i, s) => i.SaveAsPng(s, new PngEncoder { ColorType = PngColorType.Grayscale })),
        "png-interlaced" => Encode(TestImages.Smear(96, 72, 13), (i, s) => i.SaveAsPng(s, new PngEncoder { InterlaceMethod = PngInterlaceMode.Adam7 })),
        "jpeg-1x1" => ImportFixtures.Jpeg(14, 1, 1),
        "png-1x1" => ImportFixtures.Png(15, 1, 1),
        "empty" => [],
        "truncated-jpeg" => HostileInputs.Truncated(ImportFixtures.Jpeg(16, 320, 240)),
        "truncated-png" => ImportFixtures.Png(17, 96, 72)[..^20],
        "edited-header-8000x5000" => HostileInputs.WithJpegDimensions(ImportFixtures.Jpeg(18, 320, 240), 8000, 5000),
        "jpeg-bomb-40mp" => HostileInputs.ProgressiveJpeg(7296, 5472),
        "png-bomb-pixels" => ImportFixtures.HugePng(9000, 9000),
        "png-ztxt-bomb" => PngBombs.ZtxtBomb(ImportFixtures.Png(19), 256L << 20),
        "png-itxt-bomb" => PngBombs.ItxtBomb(ImportFixtures.Png(20), 256L << 20),
        "polyglot-jpeg-zip" => [.. ImportFixtures.Jpeg(21, 96, 72), .. Zip(("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(22)))],
        "polyglot-html-png" => [.. "<html><script>alert(1)</script>"u8.ToArray(), .. ImportFixtures.Png(23)],
        "gif" => "GIF89a"u8.ToArray().Concat(new byte[64]).ToArray(),
        "text" => Encoding.UTF8.GetBytes("just text, named like an image"),
        "file-30mb" => [.. ImportFixtures.Jpeg(24), .. new byte[30 * 1024 * 1024]],
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static byte[] Encode(Image image, Action<Image, Stream> save)
    {
        using (image)
        {
            using var stream = new MemoryStream();
            save(image, stream);
            return stream.ToArray();
        }
    }

    /// <summary>A zip whose entries are stored, not deflated (the files inside are judged, not the archive's ratio).</summary>
    public static byte[] StoredZip(params (string Name, byte[] Bytes)[] entries)
    {
        using var ms = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in entries)
            {
                using var s = zip.CreateEntry(name, System.IO.Compression.CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
        }
        return ms.ToArray();
    }

    public static byte[] Zip(params (string Name, byte[] Bytes)[] entries)
    {
        string path = Path.Combine(Path.GetTempPath(), $"wbc-hostile-{Guid.NewGuid():N}.zip");
        try
        {
            ImportFixtures.Zip(path, entries);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
