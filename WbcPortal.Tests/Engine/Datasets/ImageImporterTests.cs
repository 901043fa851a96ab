using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Datasets;

public class ImageImporterTests
{
    private static readonly ImageLimits Limits = new(MaxBytes: 200_000, MaxWidth: 4096, MaxHeight: 4096, MaxPixels: 4_000_000);

    private static (ImportResult Result, ImageStore Store) ImportFolder(string folder, string data)
    {
        var importer = new ImageImporter(new ImageDecoding(Limits), new ImportLimits());
        var store = new ImageStore(data);
        return (importer.Import(ImportSources.FromFolder(folder, new ImportLimits()), store, new HashSet<string>(), cancellationToken: TestContext.Current.CancellationToken), store);
    }

    private static ImportOutcome For(ImportResult result, string path) => result.Outcomes.Single(o => o.RelativePath == path);

    [Fact]
    public void Every_bad_file_gets_its_reason_and_the_good_ones_are_stored()
    {
        using var src = new TempDirectory();
        using var data = new TempDirectory();
        var good = ImportFixtures.Jpeg(1);
        ImportFixtures.Write(src.Path, "EOSINOPHIL/a.jpg", good);
        ImportFixtures.Write(src.Path, "LYMPHOCYTE/b.png", ImportFixtures.Png(2));
        ImportFixtures.Write(src.Path, "LYMPHOCYTE/copy-of-a.jpg", good);
        ImportFixtures.Write(src.Path, "EOSINOPHIL/notes.txt", "hello, not an image"u8.ToArray());
        ImportFixtures.Write(src.Path, "EOSINOPHIL/old.gif", "GIF89a\u0001\u0000\u0001\u0000"u8.ToArray());
        ImportFixtures.Write(src.Path, "EOSINOPHIL/scan.bmp", [(byte)'B', (byte)'M', 0, 0, 0, 0]);
        ImportFixtures.Write(src.Path, "EOSINOPHIL/truncated.jpg", good[..(good.Length / 2)]);
        var garbage = new byte[4000];
        new Random(3).NextBytes(garbage);
        ImportFixtures.Write(src.Path, "EOSINOPHIL/garbage.jpg", [0xFF, 0xD8, 0xFF, 0xE0, .. garbage, 0xFF, 0xD9]);
        ImportFixtures.Write(src.Path, "EOSINOPHIL/huge-file.jpg", [.. ImportFixtures.Jpeg(4), .. new byte[300_000]]);
        ImportFixtures.Write(src.Path, "EOSINOPHIL/huge-pixels.png", ImportFixtures.HugePng(5000, 10));
        ImportFixtures.Write(src.Path, "loose.jpg", ImportFixtures.Jpeg(5));
        ImportFixtures.Write(src.Path, "EOSINOPHIL/.DS_Store", [0, 0, 0, 1]);

        var (result, store) = ImportFolder(src.Path, data.Path);

        Assert.Equal(ImportReason.Accepted, For(result, "EOSINOPHIL/a.jpg").Reason);
        Assert.Equal(ImportReason.Accepted, For(result, "LYMPHOCYTE/b.png").Reason);
        Assert.Equal(ImportReason.Duplicate, For(result, "LYMPHOCYTE/copy-of-a.jpg").Reason);
        Assert.Equal("duplicate of EOSINOPHIL/a.jpg", For(result, "LYMPHOCYTE/copy-of-a.jpg").Message);
        Assert.Equal(ImportReason.NotAnImage, For(result, "EOSINOPHIL/notes.txt").Reason);
        Assert.Equal(ImportReason.UnsupportedFormat, For(result, "EOSINOPHIL/old.gif").Reason);
        Assert.Equal(ImportReason.UnsupportedFormat, For(result, "EOSINOPHIL/scan.bmp").Reason);
        Assert.Equal(ImportReason.Corrupt, For(result, "EOSINOPHIL/truncated.jpg").Reason);
        Assert.Equal(ImportReason.Corrupt, For(result, "EOSINOPHIL/garbage.jpg").Reason);
        Assert.Equal(ImportReason.TooLargeBytes, For(result, "EOSINOPHIL/huge-file.jpg").Reason);
        Assert.Equal(ImportReason.TooLargePixels, For(result, "EOSINOPHIL/huge-pixels.png").Reason);
        Assert.Equal(ImportReason.OutsideClassFolder, For(result, "loose.jpg").Reason);
        Assert.Equal(ImportReason.Ignored, For(result, "EOSINOPHIL/.DS_Store").Reason);

        Assert.Equal(2, result.Images.Count);
        Assert.Equal(new Dictionary<string, int> { ["EOSINOPHIL"] = 1, ["LYMPHOCYTE"] = 1 }, result.ClassCounts);
        foreach (var image in result.Images)
        {
            Assert.True(File.Exists(store.ImagePath(image.Sha256, image.Format)));
            Assert.True(File.Exists(store.ThumbnailPath(image.Sha256)));
            Assert.Equal(64, image.Width);
            Assert.Equal(48, image.Height);
        }
        Assert.Equal(good, File.ReadAllBytes(store.ImagePath(result.Images[0].Sha256, "jpeg")));
    }

    [Fact]
    public void Zip_tricks_are_refused_and_the_safe_entries_imported()
    {
        using var dir = new TempDirectory();
        var zip = Path.Combine(dir.Path, "upload.zip");
        ImportFixtures.Zip(zip,
        [
            ("TRAIN/MONOCYTE/ok.jpg", ImportFixtures.Jpeg(7)),
            ("../escape/MONOCYTE/evil.jpg", ImportFixtures.Jpeg(8)),
            ("/etc/MONOCYTE/abs.jpg", ImportFixtures.Jpeg(9)),
            ("MONOCYTE/bomb.jpg", [0xFF, 0xD8, 0xFF, .. new byte[5_000_000]]),
            ("__MACOSX/MONOCYTE/._ok.jpg", [0, 5, 22, 7]),
        ]);
        var limits = new ImportLimits();
        using var source = ImportSources.FromZip(zip, limits);
        var importer = new ImageImporter(new ImageDecoding(ImageLimits.Default), limits);
        var result = importer.Import(source.Entries, new ImageStore(Path.Combine(dir.Path, "data")), new HashSet<string>(), cancellationToken: TestContext.Current.CancellationToken);

        var ok = Assert.Single(result.Images);
        Assert.Equal("MONOCYTE", ok.ClassName);
        Assert.Equal("TRAIN", ok.FolderPart);
        Assert.All(result.Outcomes.Where(o => o.RelativePath.Contains("evil") || o.RelativePath.Contains("abs") || o.RelativePath.Contains("bomb")),
            o => Assert.Equal(ImportReason.UnsafeZipEntry, o.Reason));
        Assert.Equal(3, result.Outcomes.Count(o => o.Reason == ImportReason.UnsafeZipEntry));
        Assert.Equal(ImportReason.Ignored, result.Outcomes.Single(o => o.RelativePath.StartsWith("__MACOSX")).Reason);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "escape")));
    }

    [Fact]
    public void A_file_that_is_not_a_zip_is_a_clear_error()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "not.zip");
        File.WriteAllText(path, "plain text");
        var ex = Assert.Throws<InvalidDataException>(() => ImportSources.FromZip(path, new ImportLimits()));
        Assert.Contains("Not a readable zip file", ex.Message);
    }

    [Fact]
    public void Class_paths_take_the_folder_holding_the_file()
    {
        Assert.True(ClassPath.TryGetClass("TEST/NEUTROPHIL/x.jpg", out var cls, out var folder));
        Assert.Equal(("NEUTROPHIL", "TEST"), (cls, folder));
        Assert.False(ClassPath.TryGetClass("x.jpg", out _, out _));
        Assert.False(ClassPath.TryNormalize("a/../../b.jpg", out _));
        Assert.False(ClassPath.TryNormalize("C:/b.jpg", out _));
        Assert.True(ClassPath.TryNormalize("a\\b\\c.jpg", out var n));
        Assert.Equal("a/b/c.jpg", n);
    }
}
