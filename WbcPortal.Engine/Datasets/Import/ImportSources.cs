using System.IO.Compression;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Import;

/// <summary>Turns a folder, a zip or a list of uploaded files into <see cref="ImportEntry"/>s, refusing unsafe zip entries up front.</summary>
public static class ImportSources
{
    /// <summary>
    /// The files under <paramref name="folder"/>. A symbolic link is listed with its reason and never followed (see
    /// <see cref="UntrustedFolders"/>). A FIFO, device or socket, or an unreadable file, is listed with its reason and never
    /// opened: opening a FIFO blocks until a writer comes. The open itself refuses a file that became one after the
    /// listing, without blocking either.
    /// </summary>
    public static IReadOnlyList<ImportEntry> FromFolder(string folder, ImportLimits limits, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Folder not found: {folder}");
        var root = Path.GetFullPath(folder);
        var entries = new List<ImportEntry>();
        foreach (var (file, isLink) in UntrustedFolders.Walk(root).OrderBy(e => e.FullPath, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (entries.Count >= limits.MaxFiles) throw new InvalidDataException($"More than {limits.MaxFiles:N0} files: import them in parts.");
            string relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (isLink)
            {
                entries.Add(new ImportEntry(relative, null, () => Stream.Null, 0, (ImportReason.Ignored, UntrustedFolders.LinkReason)));
                continue;
            }
            if (UntrustedFiles.Refusal(file) is { } refusal)
            {
                entries.Add(new ImportEntry(relative, null, () => Stream.Null, 0, (ImportReason.Unreadable, refusal)));
                continue;
            }
            var info = new FileInfo(file);
            entries.Add(new ImportEntry(relative, null, () => OpenRegular(file), info.Length));
        }
        return entries;
    }

    /// <summary>Opens a listed file; one that is no longer a regular file (or readable) is refused as unreadable data, without blocking.</summary>
    private static Stream OpenRegular(string file)
    {
        try
        {
            return UntrustedFiles.OpenRegular(file);
        }
        catch (NotARegularFileException ex)
        {
            throw new InvalidDataException(ex.Reason, ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new InvalidDataException("unreadable: permission denied", ex);
        }
    }

    /// <summary>
    /// Reads a zip of class folders. The archive stays open until the returned entries are disposed
    /// with the <see cref="ZipSource"/>. Entry paths that escape the root, absolute paths, links,
    /// entries that claim implausible compression and archives over the limits are refused; with <paramref name="maxEntryBytes"/>,
    /// an entry that declares more is refused before it is read. The entry count is checked from the archive's last record
    /// before any entry is read; each entry's CRC-32 is checked as it is read.
    /// </summary>
    public static ZipSource FromZip(string zipPath, ImportLimits limits, long? maxEntryBytes = null)
    {
        ZipArchive archive;
        try
        {
            using (var probe = File.OpenRead(zipPath)) ZipChecks.CheckEntryCount(probe, limits.MaxFiles);
            archive = ZipFile.OpenRead(zipPath);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"Not a readable zip file ({ex.Message}).", ex);
        }
        var gate = new object();
        var entries = new List<ImportEntry>();
        long total = 0;
        try
        {
            if (archive.Entries.Count > limits.MaxFiles)
                throw new InvalidDataException($"The zip holds {archive.Entries.Count:N0} entries; the limit is {limits.MaxFiles:N0}.");
            foreach (var entry in archive.Entries)
            {
                if (entry.FullName.EndsWith('/') || entry.FullName.EndsWith('\\')) continue; // folder
                string name = entry.FullName;
                if (!ClassPath.TryNormalize(name, out var normalized))
                {
                    entries.Add(Rejected(name, "the path escapes the archive or is absolute"));
                    continue;
                }
                // Unix mode bits in the high word of ExternalAttributes: 0xA000 marks a symbolic link.
                if (((entry.ExternalAttributes >> 16) & 0xF000) == 0xA000)
                {
                    entries.Add(Rejected(normalized, "symbolic link"));
                    continue;
                }
                if (entry.Length > 0 && entry.CompressedLength > 0 && entry.Length / Math.Max(1, entry.CompressedLength) > limits.MaxCompressionRatio)
                {
                    entries.Add(Rejected(normalized, $"compression ratio over {limits.MaxCompressionRatio}:1 (zip bomb)"));
                    continue;
                }
                if (maxEntryBytes is long most && entry.Length > most)
                {
                    entries.Add(new ImportEntry(normalized, null, () => Stream.Null, entry.Length,
                        (ImportReason.TooLargeBytes, $"file is {entry.Length:N0} bytes, the limit is {most:N0}")));
                    continue;
                }
                total += entry.Length;
                if (total > limits.MaxTotalBytes)
                    throw new InvalidDataException($"The zip expands to more than {limits.MaxTotalBytes / (1024 * 1024):N0} MB.");
                var e = entry;
                entries.Add(new ImportEntry(normalized, null, () =>
                {
                    // ZipArchive is not thread-safe: entries are read whole, one at a time.
                    lock (gate)
                    {
                        using var s = e.Open();
                        var buffer = new MemoryStream();
                        CopyBounded(s, buffer, e.Length, e.Crc32);
                        buffer.Position = 0;
                        return buffer;
                    }
                }, e.Length));
            }
        }
        catch
        {
            archive.Dispose();
            throw;
        }
        return new ZipSource(archive, entries);
    }

    /// <summary>
    /// Copies at most <paramref name="declared"/> bytes; a stream longer than its header says, or whose CRC-32 differs from
    /// the one the archive records, is an unsafe entry.
    /// </summary>
    public static void CopyBounded(Stream source, Stream destination, long declared, uint crc32)
    {
        var buffer = new byte[81920];
        long copied = 0;
        uint crc = 0;
        int read;
        while ((read = source.Read(buffer, 0, buffer.Length)) > 0)
        {
            copied += read;
            if (copied > declared) throw new InvalidDataException("the entry is longer than its header declares");
            crc = ZipChecks.Crc32(buffer.AsSpan(0, read), crc);
            destination.Write(buffer, 0, read);
        }
        if (copied != declared) throw new InvalidDataException("the entry is shorter than its header declares");
        if (crc != crc32) throw new InvalidDataException($"damaged: its CRC-32 is {crc:x8}, the archive records {crc32:x8}");
    }

    private static ImportEntry Rejected(string path, string why) =>
        new(path, null, () => Stream.Null, 0, (ImportReason.UnsafeZipEntry, $"unsafe zip entry: {why}"));
}

/// <summary>The entries of an open zip; dispose after the import.</summary>
public sealed class ZipSource(ZipArchive archive, IReadOnlyList<ImportEntry> entries) : IDisposable
{
    public IReadOnlyList<ImportEntry> Entries { get; } = entries;

    public void Dispose() => archive.Dispose();
}
