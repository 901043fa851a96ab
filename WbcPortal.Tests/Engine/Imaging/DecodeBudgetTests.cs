using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Benchmarks;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Imaging;

/// <summary>
/// Issue 24 item 4: one decode budget for the process. Decodes reserve their worst case from the header and give it back
/// when their image is disposed; requests wait a bounded time, background work waits; an image larger than the budget
/// is refused; and the decoder's own truncation and header checks apply to every caller.
/// </summary>
public sealed class DecodeBudgetTests
{
    private const long MB = 1024 * 1024;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_request_waits_its_bounded_time_then_is_refused_and_room_given_back_goes_to_waiters_in_order()
    {
        var budget = new DecodeBudget(100 * MB, TimeSpan.FromMilliseconds(100));
        using var first = budget.Reserve(80 * MB, DecodeWait.Bounded, Ct);
        var busy = Assert.Throws<DecodeBudgetBusyException>(() => budget.Reserve(30 * MB, DecodeWait.Bounded, Ct));
        Assert.Contains("memory budget", busy.Message);
        Assert.Equal(TimeSpan.FromSeconds(1), busy.RetryAfter);
        Assert.Equal(0, budget.Waiting);

        // Background work waits; a small one behind it waits too (arrival order), and both get room once the first goes.
        var big = Task.Run(() => budget.Reserve(60 * MB, DecodeWait.UntilFree, Ct), Ct);
        SpinWait.SpinUntil(() => budget.Waiting == 1, 5000);
        var small = budget.ReserveAsync(10 * MB, DecodeWait.UntilFree, Ct).AsTask();
        SpinWait.SpinUntil(() => budget.Waiting == 2, 5000);
        Assert.False(small.IsCompleted); // 10 MB would fit, but it came after the 60 MB one
        first.Dispose();
        using var bigReservation = await big.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        using var smallReservation = await small.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal(70 * MB, budget.UsedBytes);
        bigReservation.Dispose();
        smallReservation.Dispose();
        Assert.Equal(0, budget.UsedBytes);
    }

    [Fact]
    public async Task A_cancelled_wait_leaves_the_queue_and_takes_nothing()
    {
        var budget = new DecodeBudget(10 * MB, TimeSpan.FromSeconds(30));
        using var held = budget.Reserve(10 * MB, DecodeWait.Bounded, Ct);
        using var cts = new CancellationTokenSource(100);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await budget.ReserveAsync(5 * MB, DecodeWait.UntilFree, cts.Token));
        Assert.Equal(0, budget.Waiting);
        Assert.Equal(10 * MB, budget.UsedBytes);
    }

    [Fact]
    public void A_decoded_image_holds_its_room_until_it_is_disposed_and_a_bomb_larger_than_the_budget_is_refused_unread()
    {
        var budget = new DecodeBudget(64 * MB, TimeSpan.FromSeconds(1));
        var decoding = new ImageDecoding(ImageLimits.Default, budget);
        var jpeg = HostileInputs.ProgressiveJpeg(1600, 1200);
        using (var image = decoding.DecodeRgb(jpeg, DecodeWait.Bounded, Ct))
        {
            Assert.Equal(1600, image.Width);
            // The working buffers went back when the decode ended; the RGB result's bytes stay reserved.
            Assert.InRange(budget.UsedBytes, 1600L * 1200 * 3, 1600L * 1200 * 4);
            Assert.True(budget.PeakBytes >= 1600L * 1200 * 9, $"peak {budget.PeakBytes}");
        }
        Assert.Equal(0, budget.UsedBytes);

        var bomb = HostileInputs.ProgressiveJpeg(7296, 5472); // 40 MP, ~230 KB
        Assert.InRange(bomb.Length, 150_000, 400_000);
        var refused = Assert.Throws<ImageRejectedException>(() => decoding.DecodeRgb(bomb, DecodeWait.Bounded, Ct));
        Assert.Equal(ImageRejection.TooLargePixels, refused.Reason);
        Assert.Contains("more than the whole decoding budget of 64 MB", refused.Message);
        Assert.Equal(0, budget.UsedBytes);
    }

    [Fact]
    public void A_failed_decode_gives_its_room_back()
    {
        var budget = new DecodeBudget(256 * MB, TimeSpan.FromSeconds(1));
        var decoding = new ImageDecoding(ImageLimits.Default with { DecodeBudgetBytes = 20 * MB }, budget);
        // Its worst case is capped at the per-decode limit (20 MB); the decode needs more and is refused.
        var bomb = HostileInputs.ProgressiveJpeg(2000, 2000);
        var refused = Assert.Throws<ImageRejectedException>(() => decoding.DecodeRgb(bomb, DecodeWait.Bounded, Ct));
        Assert.Contains("too large to decode within 20 MB", refused.Message);
        Assert.Equal(0, budget.UsedBytes);
    }

    public static TheoryData<string> OddButValid() => ["cmyk-progressive", "gray-progressive", "gray-jpeg", "png-16bit", "png-gray", "png-interlaced", "jpeg-1x1", "png-1x1"];

    [Theory]
    [MemberData(nameof(OddButValid))]
    public void Odd_but_valid_images_decode_within_their_header_reservation(string kind)
    {
        var budget = new DecodeBudget(256 * MB, TimeSpan.FromSeconds(1));
        var decoding = new ImageDecoding(ImageLimits.Default, budget);
        using var image = decoding.DecodeRgb(HostileFiles.Make(kind), DecodeWait.Bounded, Ct);
        Assert.True(image.Width >= 1);
    }

    [Fact]
    public void Truncated_files_and_edited_headers_are_refused_by_the_decoder_itself()
    {
        var decoding = new ImageDecoding(ImageLimits.Default);
        var jpeg = ImportFixtures.Jpeg(5, 320, 240);
        var truncated = Assert.Throws<ImageRejectedException>(() => decoding.DecodeRgb(HostileInputs.Truncated(jpeg), Ct));
        Assert.Equal("truncated: the image's end marker is missing", truncated.Message);
        var edited = Assert.Throws<ImageRejectedException>(() => decoding.DecodeRgb(HostileInputs.WithJpegDimensions(jpeg, 8000, 5000), Ct));
        Assert.Equal(ImageRejection.Corrupt, edited.Reason);
        Assert.Contains("too small for the 8000x5000 pixels its header claims", edited.Message);
        var png = ImportFixtures.Png(6);
        Assert.Equal("truncated: the image's end marker is missing", Assert.Throws<ImageRejectedException>(() => decoding.DecodeRgb(png[..^20], Ct)).Message);
        Assert.Equal("the file is empty", Assert.Throws<ImageRejectedException>(() => decoding.DecodeRgb(Array.Empty<byte>(), Ct)).Message);
        // The same image, whole and unedited, decodes.
        using var whole = decoding.DecodeRgb(jpeg, Ct);
        Assert.Equal(320, whole.Width);
    }
}
