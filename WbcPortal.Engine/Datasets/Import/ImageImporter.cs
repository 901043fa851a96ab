using System.Security.Cryptography;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Import;

/// <summary>
/// Checks and stores images: every file is sniffed, fully decoded under the hardened decoder, hashed,
/// stored once by content and given a thumbnail. A bad file gets a reason and never stops the others.
/// Work runs on all cores; the outcome is the same whatever the order the cores finish in.
/// </summary>
public sealed class ImageImporter(ImageDecoding decoding, ImportLimits limits)
{
    private static readonly JpegEncoder ThumbnailEncoder = new() { Quality = 80 };

    /// <summary>The largest file accepted (a zip entry declaring more is refused before it is read).</summary>
    public long MaxFileBytes => decoding.Limits.MaxBytes;

    /// <summary>Checks and stores straight into <paramref name="store"/> (every accepted file promoted at once): for tools and tests with no database.</summary>
    public ImportResult Import(
        IReadOnlyList<ImportEntry> entries,
        ImageStore store,
        IReadOnlySet<string> alreadyInDataset,
        IProgress<ImportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        using var staging = store.BeginStaging();
        var result = Import(entries, staging, alreadyInDataset, progress, cancellationToken);
        staging.Promote(result.Images.Select(i => (i.Sha256, i.Format)));
        return result;
    }

    /// <summary>
    /// Checks the entries and writes new files into <paramref name="staging"/>; the caller commits the rows, then promotes
    /// the files into the store. A file is decoded in full before it is accepted.
    /// </summary>
    public ImportResult Import(
        IReadOnlyList<ImportEntry> entries,
        ImageStaging staging,
        IReadOnlySet<string> alreadyInDataset,
        IProgress<ImportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var checkedEntries = new Checked?[entries.Count];
        var outcomes = new ImportOutcome?[entries.Count];
        int done = 0, accepted = 0, rejected = 0;

        Parallel.For(0, entries.Count, new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var (ok, outcome) = Check(entries[i], staging, cancellationToken);
            checkedEntries[i] = ok;
            outcomes[i] = outcome;
            if (ok is null) Interlocked.Increment(ref rejected); else Interlocked.Increment(ref accepted);
            int n = Interlocked.Increment(ref done);
            if (progress is not null && (n % 50 == 0 || n == entries.Count))
            {
                progress.Report(new ImportProgress(n, entries.Count, Volatile.Read(ref accepted), Volatile.Read(ref rejected), entries[i].RelativePath));
            }
        });

        // Duplicates are settled in input order so the first file of a set is the one kept.
        var firstBySha = new Dictionary<string, string>(StringComparer.Ordinal);
        var images = new List<ImportedImage>();
        for (int i = 0; i < entries.Count; i++)
        {
            if (checkedEntries[i] is not { } c) continue;
            if (alreadyInDataset.Contains(c.Image.Sha256))
            {
                outcomes[i] = new ImportOutcome(c.Image.RelativePath, ImportReason.Duplicate, "duplicate: the same file is already in this dataset", c.Image.ClassName, c.Image.Sha256);
            }
            else if (firstBySha.TryGetValue(c.Image.Sha256, out var first))
            {
                outcomes[i] = new ImportOutcome(c.Image.RelativePath, ImportReason.Duplicate, $"duplicate of {first}", c.Image.ClassName, c.Image.Sha256);
            }
            else
            {
                firstBySha[c.Image.Sha256] = c.Image.RelativePath;
                images.Add(c.Image);
            }
        }
        return new ImportResult(images, outcomes.Select(o => o!).ToList());
    }

    private sealed record Checked(ImportedImage Image);

    private (Checked?, ImportOutcome) Check(ImportEntry entry, ImageStaging staging, CancellationToken cancellationToken)
    {
        string path = entry.RelativePath;
        ImportOutcome Reject(ImportReason reason, string message, string? cls = null) => new(path, reason, message, cls);

        if (entry.Rejection is { } r) return (null, Reject(r.Reason, r.Message));
        if (!ClassPath.TryNormalize(path, out var normalized)) return (null, Reject(ImportReason.UnsafeZipEntry, "unsafe path"));
        path = normalized;
        if (ClassPath.IsSystemFile(normalized)) return (null, Reject(ImportReason.Ignored, "ignored: system or hidden file"));

        string className;
        string? folderPart = null;
        if (entry.ClassName is { } chosen)
        {
            if (!ClassPath.IsValidClassName(chosen)) return (null, Reject(ImportReason.OutsideClassFolder, $"'{chosen}' is not a valid class name"));
            className = chosen;
        }
        else if (!ClassPath.TryGetClass(normalized, out className, out folderPart))
        {
            return (null, Reject(ImportReason.OutsideClassFolder, "outside a class folder: put each image in a folder named after its class"));
        }

        if (entry.Length > decoding.Limits.MaxBytes)
            return (null, Reject(ImportReason.TooLargeBytes, $"file is {entry.Length:N0} bytes, the limit is {decoding.Limits.MaxBytes:N0}", className));

        byte[] bytes;
        try
        {
            using var stream = entry.Open();
            bytes = ReadBounded(stream, decoding.Limits.MaxBytes, cancellationToken);
        }
        catch (InvalidDataException ex)
        {
            return (null, Reject(ImportReason.UnsafeZipEntry, $"unsafe zip entry: {ex.Message}", className));
        }
        catch (FileTooLargeException)
        {
            return (null, Reject(ImportReason.TooLargeBytes, $"file is over the limit of {decoding.Limits.MaxBytes:N0} bytes", className));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && !cancellationToken.IsCancellationRequested)
        {
            // One unreadable file (permissions, a file swapped for a special one, an I/O error) is that file's reason, never the import's end.
            return (null, Reject(ImportReason.Unreadable, $"could not be read: {ex.Message}", className));
        }

        var format = ImageSniffer.Sniff(bytes);
        switch (format)
        {
            case SniffedFormat.Unknown:
                return (null, Reject(ImportReason.NotAnImage, "not an image", className));
            case SniffedFormat.OtherImage:
                return (null, Reject(ImportReason.UnsupportedFormat, "unsupported image format: use JPEG or PNG", className));
        }
        if (ImageSniffer.LooksTruncated(bytes, format))
            return (null, Reject(ImportReason.Corrupt, "truncated: the image's end marker is missing", className));

        try
        {
            using var image = decoding.DecodeRgb(bytes, cancellationToken);
            int width = image.Width, height = image.Height;
            string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
            string formatName = format == SniffedFormat.Png ? "png" : "jpeg";
            if (!staging.IsStored(sha, formatName))
            {
                ImageStore.WriteOnce(staging.ImagePath(sha, formatName), bytes);
                string thumbPath = staging.ThumbnailPath(sha);
                int h = Math.Min(limits.ThumbnailHeight, image.Height);
                int w = Math.Max(1, (int)Math.Round(image.Width * (double)h / image.Height));
                image.Mutate(c => c.Resize(w, h));
                using var thumb = new MemoryStream();
                image.SaveAsJpeg(thumb, ThumbnailEncoder);
                ImageStore.WriteOnce(thumbPath, thumb.GetBuffer().AsSpan(0, (int)thumb.Length));
            }
            var imported = new ImportedImage(normalized, className, folderPart, sha, formatName, width, height, bytes.Length);
            return (new Checked(imported), new ImportOutcome(normalized, ImportReason.Accepted, "accepted", className, sha));
        }
        catch (ImageRejectedException ex)
        {
            var reason = ex.Reason switch
            {
                ImageRejection.TooLargeBytes => ImportReason.TooLargeBytes,
                ImageRejection.TooLargePixels => ImportReason.TooLargePixels,
                ImageRejection.UnsupportedFormat => ImportReason.UnsupportedFormat,
                ImageRejection.NotAnImage => ImportReason.NotAnImage,
                ImageRejection.UnsafeMetadata => ImportReason.UnsafeMetadata,
                _ => ImportReason.Corrupt,
            };
            return (null, Reject(reason, ex.Message, className));
        }
    }

    private static byte[] ReadBounded(Stream stream, long max, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (buffer.Length + read > max) throw new FileTooLargeException();
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private sealed class FileTooLargeException : Exception;
}
