using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Exploration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>The view rendition of an image stored before decoding was bounded (a text-chunk bomb): refused at once, never inflated.</summary>
public class ImageViewRenditionsTests
{
    [Fact]
    public async Task A_stored_bomb_is_refused_with_a_reason_and_no_rendition_is_written()
    {
        using var data = new TempDirectory("wbc-rendition");
        var store = new ImageStore(data.Path);
        string sha = new string('a', 64);
        var bomb = PngBombs.ZtxtBomb(ImportFixtures.Png(7));
        Directory.CreateDirectory(Path.GetDirectoryName(store.ImagePath(sha, "png"))!);
        await File.WriteAllBytesAsync(store.ImagePath(sha, "png"), bomb, TestContext.Current.CancellationToken);
        var renditions = new ImageViewRenditions(store, new ImageDecoding(ImageLimits.Default));

        var requests = Enumerable.Range(0, 3).Select(_ => Assert.ThrowsAsync<ImageRejectedException>(() => renditions.LumaAsync(sha, "png", TestContext.Current.CancellationToken)));
        foreach (var ex in await Task.WhenAll(requests)) Assert.Equal(ImageRejection.UnsafeMetadata, ex.Reason);
        Assert.False(File.Exists(store.ViewPath(sha, "luma.png")));
        Assert.Equal(0, renditions.Rendered);
    }

    [Fact]
    public async Task Concurrent_first_requests_decode_the_image_once()
    {
        using var data = new TempDirectory("wbc-rendition-once");
        var store = new ImageStore(data.Path);
        string sha = new string('b', 64);
        Directory.CreateDirectory(Path.GetDirectoryName(store.ImagePath(sha, "jpeg"))!);
        await File.WriteAllBytesAsync(store.ImagePath(sha, "jpeg"), ImportFixtures.Jpeg(8, 1200, 900), TestContext.Current.CancellationToken);
        var renditions = new ImageViewRenditions(store, new ImageDecoding(ImageLimits.Default));

        var tasks = Enumerable.Range(0, 16).Select(i => i % 2 == 0
            ? renditions.LumaAsync(sha, "jpeg", TestContext.Current.CancellationToken)
            : renditions.ThresholdAsync(sha, "jpeg", 150, TestContext.Current.CancellationToken).ContinueWith(t => t.Result.Length.ToString(), TestContext.Current.CancellationToken));
        await Task.WhenAll(tasks);
        Assert.Equal(1, renditions.Rendered);
        Assert.True(File.Exists(store.ViewPath(sha, "luma.png")));
    }
}
