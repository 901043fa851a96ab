using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Imaging;

/// <summary>The hardened decoder: metadata never inflated, a stated memory budget per decode, special files never opened.</summary>
public class ImageDecodingTests
{
    private static readonly ImageDecoding Decoding = new(ImageLimits.Default);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void The_stated_bounds_follow_the_pixel_and_file_limits()
    {
        var limits = ImageLimits.Default;
        Assert.Equal(40_000_000L * ImageLimits.DecodeBytesPerPixel + (16L << 20), limits.MaxDecodeBytes); // 416 MB
        Assert.Equal(limits.MaxDecodeBytes + 4 * limits.MaxBytes, limits.MaxBytesPerFile);
        Assert.Equal(2 * limits.MaxBytesPerFile, limits.MaxBytesFor(2));
        Assert.Equal(4L << 20, (limits with { DecodeBudgetBytes = 4L << 20 }).MaxDecodeBytes);
    }

    [Fact]
    public void Text_chunk_bombs_are_refused_before_ImageSharp_inflates_them()
    {
        var png = ImportFixtures.Png(1);
        foreach (var bomb in new[] { PngBombs.ZtxtBomb(png), PngBombs.ItxtBomb(png) })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ex = Assert.Throws<ImageRejectedException>(() => Decoding.DecodeRgb(new MemoryStream(bomb), Ct));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(ImageRejection.UnsafeMetadata, ex.Reason);
            Assert.Matches("^PNG text chunk (zTXt|iTXt) inflates to more than 1 MB", ex.Message);
            Assert.InRange(allocated, 0, 8L << 20); // the file's copy and a 64 KB buffer, not the gigabyte
        }
    }

    [Fact]
    public void A_decode_over_its_budget_is_that_files_rejection_with_the_bound_in_MB()
    {
        using var big = new Image<Rgb24>(1500, 1500); // 6.4 MB of RGB
        var bytes = new MemoryStream();
        big.SaveAsPng(bytes);
        var tight = new ImageDecoding(ImageLimits.Default with { DecodeBudgetBytes = 4L << 20 });
        var ex = Assert.Throws<ImageRejectedException>(() => tight.DecodeRgb(bytes.ToArray(), Ct));
        Assert.Equal(ImageRejection.TooLargePixels, ex.Reason);
        Assert.StartsWith("too large to decode within 4 MB", ex.Message);

        using var ok = Decoding.DecodeRgb(bytes.ToArray(), Ct);
        Assert.Equal(1500, ok.Width);
        using var small = tight.DecodeRgb(ImportFixtures.Png(2), Ct); // the budget is per decode: a small image still fits after a refusal
        Assert.Equal(64, small.Width);
    }

    [Fact]
    public void A_jpeg_decodes_with_its_metadata_ignored()
    {
        using var image = Decoding.DecodeRgb(ImportFixtures.Jpeg(4), Ct);
        Assert.Equal((64, 48), (image.Width, image.Height));
    }

    [Fact]
    public async Task A_fifo_is_refused_at_once_without_being_opened()
    {
        using var dir = new TempDirectory("wbc-fifo");
        var fifo = Path.Combine(dir.Path, "cell.png");
        PngBombs.MakeFifo(fifo);
        var watch = Stopwatch.StartNew();
        var task = Task.Run(() => Decoding.DecodeRgb(fifo, Ct), Ct);
        var first = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(5), Ct));
        Assert.True(first == task, "decoding a FIFO blocked");
        var ex = await Assert.ThrowsAsync<ImageRejectedException>(() => task);
        Assert.Equal("not a regular file (a FIFO): not read", ex.Message);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 5);
    }

    [Fact]
    public void Reading_a_file_stops_between_chunks_when_cancelled()
    {
        using var dir = new TempDirectory("wbc-cancel");
        var file = Path.Combine(dir.Path, "a.png");
        File.WriteAllBytes(file, ImportFixtures.Png(5));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Decoding.DecodeRgb(file, cts.Token));
    }
}
