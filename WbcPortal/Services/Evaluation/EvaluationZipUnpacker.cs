using System.Security.Cryptography;
using System.Text;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Services.Evaluation;

/// <summary>
/// Unpacks a zip of class folders uploaded for an evaluation under the import's checks and limits (<see cref="ImportSources.FromZip"/>:
/// the entry count from the archive's last record, paths that escape or are absolute, links, ratio bombs, the total size, each
/// entry's CRC-32, and an entry declaring more than <see cref="ImageLimits.MaxBytes"/> refused before it is read). Each
/// image is written as <c>CLASS/NAME</c> with a name made safe for the disk (at most <see cref="MaxNameBytes"/> bytes of
/// UTF-8, a long one shortened and marked with a hash of the whole); two entries that become the same name are not merged:
/// the second is refused naming both. A refused entry is listed with its reason (no server path) and the others go on.
/// </summary>
public sealed class EvaluationZipUnpacker(ImportLimits limits, ImageLimits imageLimits)
{
    /// <summary>The longest name written, in UTF-8 bytes (the disk allows 255).</summary>
    public const int MaxNameBytes = 120;

    /// <summary>Unpacks <paramref name="zipPath"/> into <paramref name="root"/>; a zip that is wrong as a whole is an <see cref="ArgumentException"/> naming <paramref name="displayName"/>.</summary>
    public IReadOnlyList<(string File, string Reason)> Unpack(string displayName, string zipPath, string root, CancellationToken cancellationToken)
    {
        var refused = new List<(string, string)>();
        var written = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var source = ImportSources.FromZip(zipPath, limits, imageLimits.MaxBytes);
            foreach (var entry in source.Entries)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (entry.Rejection is { } rejection) { refused.Add((entry.RelativePath, rejection.Message)); continue; }
                if (ClassPath.IsSystemFile(entry.RelativePath))
                {
                    // Listed as the import lists it, unless it is the archiver's own (__MACOSX, .DS_Store and the like).
                    if (!entry.RelativePath.Contains("__MACOSX", StringComparison.Ordinal) && Path.GetFileName(entry.RelativePath) is not (".DS_Store" or "Thumbs.db" or "desktop.ini"))
                        refused.Add((entry.RelativePath, "ignored: system or hidden file"));
                    continue;
                }
                if (!ClassPath.TryGetClass(entry.RelativePath, out var className, out _))
                {
                    refused.Add((entry.RelativePath, "not inside a class folder"));
                    continue;
                }
                string safe = Path.Combine(SafeName(className), SafeName(entry.RelativePath[(entry.RelativePath.IndexOf('/') + 1)..].Replace('/', '_')));
                if (written.TryGetValue(safe, out var first))
                {
                    refused.Add((entry.RelativePath, $"'{entry.RelativePath}' and '{first}' both become '{safe.Replace('\\', '/')}' once made safe for the disk: this one was left out (rename one of them)"));
                    continue;
                }
                try
                {
                    string target = Path.Combine(root, safe);
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    using var input = entry.Open();
                    using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
                    input.CopyTo(output);
                    written[safe] = entry.RelativePath;
                }
                catch (InvalidDataException ex)
                {
                    refused.Add((entry.RelativePath, $"unsafe zip entry: {ex.Message}"));
                }
                catch (IOException ex) when (ex is not EndOfStreamException && !cancellationToken.IsCancellationRequested)
                {
                    // A full disk ends the job (with the IOException's message); anything else about this one file is its own reason.
                    if (UserFacingError.IsDiskFull(ex)) throw new ArgumentException($"{displayName}: the disk is full while unpacking; free some space and try again.", ex);
                    refused.Add((entry.RelativePath, "could not be written"));
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw new ArgumentException($"{displayName}: {ex.Message}", ex);
        }
        if (!Directory.Exists(root)) throw new ArgumentException($"{displayName} holds no class folder of images (expected CLASS/image.jpg entries).");
        return refused;
    }

    /// <summary>
    /// A name safe for the disk: letters, digits, '.', '_' and '-' kept, anything else '_', no leading dot; over
    /// <see cref="MaxNameBytes"/> bytes it keeps its start and extension with 8 hex digits of the whole name's SHA-256 between.
    /// </summary>
    public static string SafeName(string name)
    {
        var cleaned = new string(name.Select(c => char.IsLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()).TrimStart('.');
        if (cleaned.Length == 0) cleaned = "file";
        if (Encoding.UTF8.GetByteCount(cleaned) <= MaxNameBytes) return cleaned;
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
        string extension = Path.GetExtension(cleaned);
        if (Encoding.UTF8.GetByteCount(extension) > 16) extension = "";
        var stem = new StringBuilder();
        foreach (var rune in cleaned[..^extension.Length].EnumerateRunes())
        {
            if (Encoding.UTF8.GetByteCount(stem.ToString()) + rune.Utf8SequenceLength > MaxNameBytes - 10 - extension.Length) break;
            stem.Append(rune.ToString());
        }
        return $"{stem}~{hash}{extension}";
    }
}
