using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Services.Exploration;

/// <summary>
/// The Explore area's derived views come from one bounded rendition per image, never from a decode per request:
/// the image's luma (BT.601, as <see cref="PixelMeasures.Luma"/>), at most <see cref="MaxSide"/> pixels on its longer
/// side, stored once next to the thumbnail as an 8-bit grayscale PNG (atomically, swept with the image). The gray
/// view is that file; a threshold view reads it (at most 1 MB of pixels) and maps it. Renditions are made at most
/// <see cref="RenderingSlots"/> at a time, each a hardened decode (<see cref="ImageLimits.MaxDecodeBytes"/>), and
/// requests for one image wait for the first to finish instead of decoding it again; threshold maps are limited to
/// one per core.
/// </summary>
public sealed class ImageViewRenditions(ImageStore store, ImageDecoding decoding)
{
    public const int MaxSide = 1024;
    public static readonly int RenderingSlots = Math.Max(1, Environment.ProcessorCount / 2);

    private static readonly PngEncoder Png = new() { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit8, CompressionLevel = PngCompressionLevel.BestSpeed };

    private readonly SemaphoreSlim rendering = new(RenderingSlots, RenderingSlots);
    private readonly SemaphoreSlim mapping = new(Environment.ProcessorCount, Environment.ProcessorCount);

    /// <summary>How many renditions this process has decoded (a test watches that concurrent requests share one).</summary>
    public int Rendered => Volatile.Read(ref rendered);
    private int rendered;

    /// <summary>The luma rendition's path, made first if needed; throws <see cref="ImageRejectedException"/> when the stored image does not decode.</summary>
    public async Task<string> LumaAsync(string sha, string format, CancellationToken cancellationToken)
    {
        string path = store.ViewPath(sha, "luma.png");
        if (File.Exists(path)) return path;
        await rendering.WaitAsync(cancellationToken);
        try
        {
            if (File.Exists(path)) return path; // another request made it while this one waited
            await Task.Run(() => Render(store.ImagePath(sha, format), path, cancellationToken), cancellationToken);
            return path;
        }
        finally
        {
            rendering.Release();
        }
    }

    /// <summary>The mask of pixels darker than <paramref name="level"/> (black) as a grayscale PNG, from the rendition.</summary>
    public async Task<byte[]> ThresholdAsync(string sha, string format, int level, CancellationToken cancellationToken)
    {
        string path = await LumaAsync(sha, format, cancellationToken);
        await mapping.WaitAsync(cancellationToken);
        try
        {
            using var luma = await Image.LoadAsync<L8>(decoding.Configuration, path, cancellationToken);
            luma.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    foreach (ref var p in rows.GetRowSpan(y)) p.PackedValue = p.PackedValue < level ? (byte)0 : (byte)255;
                }
            });
            using var png = new MemoryStream();
            await luma.SaveAsPngAsync(png, Png, cancellationToken);
            return png.ToArray();
        }
        finally
        {
            mapping.Release();
        }
    }

    private void Render(string imagePath, string path, CancellationToken cancellationToken)
    {
        using var image = decoding.DecodeRgb(imagePath, cancellationToken);
        if (image.Width > MaxSide || image.Height > MaxSide)
        {
            image.Mutate(c => c.Resize(new ResizeOptions { Size = new Size(MaxSide, MaxSide), Mode = ResizeMode.Max }));
        }
        using var gray = PixelMeasures.Grayscale(image);
        using var png = new MemoryStream();
        gray.SaveAsPng(png, Png);
        ImageStore.WriteOnce(path, png.GetBuffer().AsSpan(0, (int)png.Length));
        Interlocked.Increment(ref rendered);
    }
}
