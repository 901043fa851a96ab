using System.IO.Compression;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Tests.Support;

/// <summary>Builds folders and zips of small images, good and bad, for import tests.</summary>
public static class ImportFixtures
{
    public static byte[] Jpeg(int seed, int width = 64, int height = 48)
    {
        using var image = TestImages.Smear(width, height, seed);
        using var ms = new MemoryStream();
        image.SaveAsJpeg(ms);
        return ms.ToArray();
    }

    public static byte[] Png(int seed, int width = 64, int height = 48)
    {
        using var image = TestImages.Smear(width, height, seed);
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        return ms.ToArray();
    }

    /// <summary>A PNG whose header claims huge dimensions (a decompression bomb's shape); small on disk.</summary>
    public static byte[] HugePng(int width, int height)
    {
        using var image = new Image<L8>(width, height);
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        return ms.ToArray();
    }

    public static void Write(string root, string relative, byte[] bytes)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>A folder with <paramref name="perClass"/> distinct images in each class folder.</summary>
    public static void ClassFolders(string root, IReadOnlyList<string> classes, int perClass, int seed = 1)
    {
        int n = seed * 1000;
        foreach (var cls in classes)
        {
            for (int i = 0; i < perClass; i++) Write(root, $"{cls}/{cls.ToLowerInvariant()}_{i}.jpg", Jpeg(n++));
        }
    }

    public static void Zip(string zipPath, IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Create);
        foreach (var (name, bytes) in entries)
        {
            var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
            using var s = entry.Open();
            s.Write(bytes);
        }
    }
}
