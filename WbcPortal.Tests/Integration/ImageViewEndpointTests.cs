using System.Net;
using System.Security.Cryptography;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// A portal on a data folder that already holds two imported images: the CLI imports them first, as a user would
/// (a running portal owns its data folder, so the import cannot run beside it), then the portal starts on it.
/// </summary>
public sealed class ViewPortalFixture : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-views");
    private PortalProcess? portal;

    public PortalProcess Portal => portal ?? throw new InvalidOperationException("The portal has not started.");

    /// <summary>The 320x240 smear (seed 11).</summary>
    public string SmearSha { get; private set; } = "";

    /// <summary>A 2400x1800 smear (seed 12): larger than a view rendition.</summary>
    public string LargeSha { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        using var folder = new TempDirectory("wbc-view");
        var smear = Path.Combine(folder.Path, "EOSINOPHIL", "smear.png");
        var large = Path.Combine(folder.Path, "MONOCYTE", "large.png");
        Directory.CreateDirectory(Path.GetDirectoryName(smear)!);
        Directory.CreateDirectory(Path.GetDirectoryName(large)!);
        using (var image = TestImages.Smear(seed: 11)) await image.SaveAsPngAsync(smear);
        using (var image = TestImages.Smear(2400, 1800, seed: 12)) await image.SaveAsPngAsync(large);
        var (code, output) = await PortalProcess.RunToExitAsync("import", folder.Path, "--name", "views", "--data-dir", data.Path);
        if (code != 0) throw new InvalidOperationException(output);
        SmearSha = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(smear)));
        LargeSha = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(large)));
        portal = await PortalProcess.StartOnAsync(data.Path);
    }

    public async ValueTask DisposeAsync()
    {
        if (portal is not null) await portal.DisposeAsync();
        data.Dispose();
    }
}

/// <summary>The Explore area's grayscale and threshold views, served by the real portal process.</summary>
public class ImageViewEndpointTests(ViewPortalFixture fixture) : IClassFixture<ViewPortalFixture>
{
    private Task<string> ImportedShaAsync() => Task.FromResult(fixture.SmearSha);

    private HttpClient Client() => fixture.Portal.CreateClient();

    [Theory]
    [InlineData("gray", null)]
    [InlineData("threshold", 150)]
    [InlineData("threshold", 0)]
    [InlineData("threshold", 255)]
    public async Task A_view_is_a_cacheable_grayscale_png(string mode, int? level)
    {
        string sha = await ImportedShaAsync();
        using var http = Client();
        string url = $"api/images/{sha}/view?mode={mode}" + (level is null ? "" : $"&level={level}");
        using var response = await http.GetAsync(url, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("immutable", response.Headers.CacheControl?.ToString());
        Assert.True(response.Headers.CacheControl?.Public);
        Assert.NotNull(response.Headers.ETag);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        using var image = Image.Load<L8>(bytes);
        Assert.Equal((320, 240), (image.Width, image.Height));
        if (level == 0) Assert.Equal(255, image[0, 0].PackedValue); // nothing is darker than 0
        if (level == 255) Assert.Equal(0, image[0, 0].PackedValue);  // the pale background is darker than 255

        using var again = new HttpRequestMessage(HttpMethod.Get, url);
        again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
        using var revalidated = await http.SendAsync(again, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
    }

    [Fact]
    public async Task The_threshold_mask_marks_the_darker_pixels_black()
    {
        string sha = await ImportedShaAsync();
        using var http = Client();
        var bytes = await http.GetByteArrayAsync($"api/images/{sha}/view?mode=threshold&level=150", TestContext.Current.CancellationToken);
        using var mask = Image.Load<L8>(bytes);
        using var smear = TestImages.Smear(seed: 11);
        int black = 0;
        for (int y = 0; y < smear.Height; y++)
        {
            for (int x = 0; x < smear.Width; x++)
            {
                bool darker = PixelMeasures.Luma(smear[x, y]) < 150;
                Assert.Equal(darker ? 0 : 255, mask[x, y].PackedValue);
                if (darker) black++;
            }
        }
        Assert.InRange(black, 1, smear.Width * smear.Height - 1); // the nucleus is darker, the background is not
    }

    [Theory]
    [InlineData("not-a-sha")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")] // well formed, not stored
    [InlineData("ABCDEF0000000000000000000000000000000000000000000000000000000000")] // upper case is not a stored hash
    public async Task An_unknown_or_malformed_hash_is_not_found(string sha)
    {
        using var http = Client();
        using var response = await http.GetAsync($"api/images/{sha}/view?mode=gray", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("mode=threshold&level=256")]
    [InlineData("mode=threshold&level=-1")]
    [InlineData("mode=sepia")]
    public async Task A_bad_level_or_mode_is_a_bad_request(string query)
    {
        string sha = await ImportedShaAsync();
        using var http = Client();
        using var response = await http.GetAsync($"api/images/{sha}/view?{query}", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    /// <summary>
    /// Many concurrent view requests of one large stored image: all answered from one bounded rendition (the image's
    /// luma, at most 1024 px a side, stored once), not a decode per request; the portal's resident set is measured.
    /// </summary>
    [Fact]
    public async Task Concurrent_views_of_a_large_image_share_one_bounded_rendition()
    {
        string sha = fixture.LargeSha;
        var before = PngBombs.Memory(fixture.Portal.ProcessId)!.Value;
        using var http = Client();
        var urls = Enumerable.Range(0, 48).Select(i => i % 3 == 0 ? $"api/images/{sha}/view?mode=gray" : $"api/images/{sha}/view?mode=threshold&level={100 + i}").ToList();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        long peakDuring = before.Peak, rssDuring = before.Rss;
        var requests = urls.Select(async url =>
        {
            using var response = await http.GetAsync(url, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            using var view = Image.Load<L8>(bytes);
            Assert.Equal((1024, 768), (view.Width, view.Height)); // bounded: the longer side at most 1024 px
        }).ToList();
        var all = Task.WhenAll(requests);
        while (!all.IsCompleted)
        {
            if (PngBombs.Memory(fixture.Portal.ProcessId) is { } m) { peakDuring = Math.Max(peakDuring, m.Peak); rssDuring = Math.Max(rssDuring, m.Rss); }
            await Task.WhenAny(all, Task.Delay(20, TestContext.Current.CancellationToken));
        }
        await all;
        var after = PngBombs.Memory(fixture.Portal.ProcessId)!.Value;
        long growth = Math.Max(rssDuring, after.Rss) - before.Rss;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"48 concurrent views of a 2400x1800 image: {watch.Elapsed.TotalSeconds:N1} s; portal RSS {before.Rss >> 20} MB before, {rssDuring >> 20} MB at most during, {after.Rss >> 20} MB after (peak ever {after.Peak >> 20} MB)");

        var renditions = Directory.GetFiles(Path.Combine(fixture.Portal.DataDirectory, "views", sha[..2]), $"{sha}.*");
        Assert.Equal([$"{sha}.luma.png"], renditions.Select(Path.GetFileName));
        Assert.True(growth < (256L << 20), $"the portal grew by {growth >> 20} MB serving 48 views");
    }
}
