using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Storage;

namespace WbcPortal.Engine.Evaluation;

/// <summary>
/// Pictures of the images a folder or zip evaluation judged, which are never imported: a bounded preview (long side at
/// most <see cref="PreviewMaxSide"/> px) and a thumbnail (<see cref="ThumbnailHeight"/> px high), both JPEG, under the run's
/// folder (<c>runs/ID/previews/ab/SHA.jpg</c> and <c>SHA.thumb.jpg</c>), by the SHA-256 of the file's bytes. They go with the
/// run, are written once and atomically, and <see cref="Sweep"/> removes those no stored prediction names any more
/// (an evaluation of the same source replaced). A folder of 2,487 Kaggle crops costs about 40 MB.
/// </summary>
public sealed class EvaluationPreviews(string runFolder)
{
    public const int PreviewMaxSide = 512;
    public const int ThumbnailHeight = 96;
    private static readonly JpegEncoder Encoder = new() { Quality = 82 };

    public string Root { get; } = Path.Combine(runFolder, "previews");

    public string PreviewPath(string sha) => Path.Combine(Root, Check(sha)[..2], $"{sha}.jpg");

    public string ThumbnailPath(string sha) => Path.Combine(Root, Check(sha)[..2], $"{sha}.thumb.jpg");

    /// <summary>Writes the preview and the thumbnail of <paramref name="image"/> unless they are there (the image is left as it was).</summary>
    public void Write(string sha, Image<Rgb24> image)
    {
        if (File.Exists(PreviewPath(sha)) && File.Exists(ThumbnailPath(sha))) return;
        double scale = Math.Min(1.0, (double)PreviewMaxSide / Math.Max(image.Width, image.Height));
        Save(PreviewPath(sha), image, Math.Max(1, (int)Math.Round(image.Width * scale)), Math.Max(1, (int)Math.Round(image.Height * scale)));
        int h = Math.Min(ThumbnailHeight, image.Height);
        Save(ThumbnailPath(sha), image, Math.Max(1, (int)Math.Round(image.Width * (double)h / image.Height)), h);
    }

    /// <summary>Deletes the previews of every hash not in <paramref name="referenced"/>; returns how many images' pictures went.</summary>
    public int Sweep(IReadOnlySet<string> referenced)
    {
        if (!Directory.Exists(Root)) return 0;
        int removed = 0;
        foreach (var file in Directory.EnumerateFiles(Root, "*.jpg", SearchOption.AllDirectories))
        {
            string name = Path.GetFileName(file);
            string sha = name.Length >= 64 ? name[..64] : "";
            if (ImageStore.IsValidSha(sha) && referenced.Contains(sha)) continue;
            File.Delete(file);
            if (!name.Contains(".thumb.", StringComparison.Ordinal)) removed++;
        }
        return removed;
    }

    private static void Save(string path, Image<Rgb24> image, int width, int height)
    {
        if (File.Exists(path)) return;
        using var resized = image.Clone(c => c.Resize(width, height));
        using var bytes = new MemoryStream();
        resized.SaveAsJpeg(bytes, Encoder);
        ImageStore.WriteOnce(path, bytes.GetBuffer().AsSpan(0, (int)bytes.Length));
    }

    private static string Check(string sha) =>
        ImageStore.IsValidSha(sha) ? sha : throw new ArgumentException($"'{sha}' is not a SHA-256 in lower-case hex.", nameof(sha));
}
