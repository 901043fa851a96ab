using System.IO.Compression;
using WbcPortal.Options;

namespace WbcPortal.Services.Classify;

/// <summary>
/// What the Classify page was given, as images to classify: JPEG and PNG files as they are, and the JPEG and PNG
/// entries of a zip (read with bounded copies: a declared size is never trusted, a zip bomb stops at the batch's byte
/// limit). Everything else is set aside with its reason. Nothing is written to disk.
/// </summary>
public sealed class ClassifyUploads(InferenceOptions options, Engine.Imaging.ImageLimits limits)
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png"];

    public sealed class Collector(int maxImages, long maxBytes)
    {
        public List<PredictionInput> Inputs { get; } = [];
        public List<SkippedFile> Skipped { get; } = [];
        public long Bytes { get; private set; }

        /// <summary>Why no more can be taken, or null.</summary>
        public string? Full => Inputs.Count >= maxImages ? $"the batch is full ({maxImages:N0} images at most)"
            : Bytes >= maxBytes ? $"the batch is full ({maxBytes / 1048576:N0} MB at most)" : null;

        internal long RoomBytes => maxBytes - Bytes;

        internal void Add(string file, byte[] bytes)
        {
            Inputs.Add(new PredictionInput(file, bytes));
            Bytes += bytes.Length;
        }
    }

    /// <summary>The most entries a zip for a batch may declare (folders and other files included).</summary>
    private int MaxZipEntries => Math.Max(1000, options.MaxImagesPerBatch * 4);

    public Collector NewCollector() => new(options.MaxImagesPerBatch, options.MaxBatchBytes);

    /// <summary>
    /// Adds the JPEG and PNG files under a server folder (<paramref name="folder"/>, already resolved under the server root
    /// by <see cref="Storage.ServerFolders"/>), named by their path below <paramref name="namesFrom"/>. Links (never
    /// followed), FIFOs, devices and unreadable files are never opened (listed with their reason); zips in the folder are not unpacked.
    /// </summary>
    public async Task AddFolderAsync(Collector into, string folder, string namesFrom, CancellationToken cancellationToken)
    {
        var entries = Engine.Imaging.UntrustedFolders.Walk(folder)
            .Where(e => !Path.GetFileName(e.FullPath).StartsWith('.'))
            .OrderBy(e => e.FullPath, StringComparer.Ordinal);
        foreach (var (path, isLink) in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var file = new FileInfo(path);
            string name = Path.GetRelativePath(namesFrom, file.FullName).Replace('\\', '/');
            if (isLink) { into.Skipped.Add(new SkippedFile(name, Engine.Imaging.UntrustedFolders.LinkReason)); continue; }
            string extension = file.Extension.ToLowerInvariant();
            if (!ImageExtensions.Contains(extension)) { if (extension != ".zip") continue; into.Skipped.Add(new SkippedFile(name, "a zip in a server folder is not unpacked")); continue; }
            if (into.Full is { } full) { into.Skipped.Add(new SkippedFile(name, full)); break; }
            if (Engine.Imaging.UntrustedFiles.Refusal(file.FullName) is { } refusal) { into.Skipped.Add(new SkippedFile(name, refusal)); continue; }
            try
            {
                await using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous);
                await AddAsync(into, name, stream, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                into.Skipped.Add(new SkippedFile(name, $"unreadable: {ex.Message}"));
            }
        }
    }

    /// <summary>Adds one uploaded file: an image, or a zip whose images are added.</summary>
    public async Task AddAsync(Collector into, string name, Stream content, CancellationToken cancellationToken)
    {
        string extension = Path.GetExtension(name).ToLowerInvariant();
        if (into.Full is { } full) { into.Skipped.Add(new SkippedFile(name, full)); return; }
        if (extension == ".zip")
        {
            await AddZipAsync(into, name, content, cancellationToken);
            return;
        }
        if (!ImageExtensions.Contains(extension)) { into.Skipped.Add(new SkippedFile(name, "not a JPEG, PNG or zip file")); return; }
        var bytes = await ReadBoundedAsync(content, Math.Min(limits.MaxBytes, into.RoomBytes), cancellationToken);
        if (bytes is null) { into.Skipped.Add(new SkippedFile(name, $"larger than {Math.Min(limits.MaxBytes, into.RoomBytes) / 1048576.0:0.#} MB")); return; }
        into.Add(name, bytes);
    }

    private async Task AddZipAsync(Collector into, string name, Stream content, CancellationToken cancellationToken)
    {
        // The browser stream is not seekable: the zip (bounded by the batch's room) is buffered first.
        var buffer = await ReadBoundedAsync(content, Math.Max(0, into.RoomBytes), cancellationToken);
        if (buffer is null) { into.Skipped.Add(new SkippedFile(name, $"the zip is larger than the batch's room ({into.RoomBytes / 1048576.0:0.#} MB)")); return; }
        ZipArchive archive;
        try
        {
            var zipStream = new MemoryStream(buffer, writable: false);
            // A million empty entries are refused from the archive's last record, before its directory is parsed.
            Engine.Datasets.Import.ZipChecks.CheckEntryCount(zipStream, MaxZipEntries);
            archive = new ZipArchive(zipStream, ZipArchiveMode.Read);
        }
        catch (InvalidDataException ex)
        {
            into.Skipped.Add(new SkippedFile(name, $"not a readable zip: {ex.Message}"));
            return;
        }
        using (archive)
        {
            foreach (var entry in archive.Entries.OrderBy(e => e.FullName, StringComparer.Ordinal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                string entryName = $"{name}/{entry.FullName}";
                if (entry.FullName.EndsWith('/') || entry.FullName.Contains("__MACOSX", StringComparison.Ordinal) || Path.GetFileName(entry.FullName).StartsWith('.')) continue;
                string extension = Path.GetExtension(entry.FullName).ToLowerInvariant();
                if (!ImageExtensions.Contains(extension)) { into.Skipped.Add(new SkippedFile(entryName, extension == ".zip" ? "a zip inside a zip is not opened" : "not a JPEG or PNG file")); continue; }
                // Unix mode bits in the high word: 0xA000 marks a symbolic link (its "content" is the target's path).
                if (((entry.ExternalAttributes >> 16) & 0xF000) == 0xA000) { into.Skipped.Add(new SkippedFile(entryName, "a symbolic link in the zip is not followed")); continue; }
                if (into.Full is { } full) { into.Skipped.Add(new SkippedFile(entryName, full)); continue; }
                byte[]? bytes;
                try
                {
                    await using var stream = entry.Open();
                    bytes = await ReadBoundedAsync(stream, Math.Min(limits.MaxBytes, into.RoomBytes), cancellationToken);
                }
                catch (InvalidDataException ex)
                {
                    into.Skipped.Add(new SkippedFile(entryName, $"damaged in the zip: {ex.Message}"));
                    continue;
                }
                if (bytes is null) { into.Skipped.Add(new SkippedFile(entryName, $"larger than {Math.Min(limits.MaxBytes, into.RoomBytes) / 1048576.0:0.#} MB unpacked")); continue; }
                if (Engine.Datasets.Import.ZipChecks.Crc32(bytes) != entry.Crc32) { into.Skipped.Add(new SkippedFile(entryName, "damaged in the zip: its CRC-32 differs from the one the archive records")); continue; }
                into.Add(entryName, bytes);
            }
        }
    }

    /// <summary>All of <paramref name="stream"/>, or null when it holds more than <paramref name="max"/> bytes (reading stops there).</summary>
    private static async Task<byte[]?> ReadBoundedAsync(Stream stream, long max, CancellationToken cancellationToken)
    {
        using var memory = new MemoryStream();
        var chunk = new byte[81920];
        while (true)
        {
            int read = await stream.ReadAsync(chunk, cancellationToken);
            if (read == 0) break;
            if (memory.Length + read > max) return null;
            memory.Write(chunk, 0, read);
        }
        return memory.ToArray();
    }
}
