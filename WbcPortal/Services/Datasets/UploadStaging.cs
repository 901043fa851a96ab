using System.Collections.Concurrent;
using Microsoft.AspNetCore.Components.Forms;
using WbcPortal.Options;

namespace WbcPortal.Services.Datasets;

/// <summary>
/// Copies browser uploads to a private folder under the data folder (<c>uploads/&lt;id&gt;</c>) before the import job
/// reads them, so the import runs off the circuit and a closed tab cannot cut it short. A folder is in use from
/// <see cref="NewFolder"/> until <see cref="Delete"/>; anything else under <c>uploads/</c> is a leftover (a stopped
/// portal, a failed copy) that <see cref="Sweep"/> removes: after every dataset job and once at start-up. The space
/// all staged uploads may take together is capped by <c>Import:MaxStagingBytes</c>.
/// </summary>
public sealed class UploadStaging(StorageOptions storage, Microsoft.Extensions.Options.IOptions<ImportOptions> import, ILogger<UploadStaging> logger)
{
    private readonly ConcurrentDictionary<string, long> inUse = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    public long MaxUploadBytes => import.Value.MaxUploadBytes;

    public long MaxStagingBytes => import.Value.MaxStagingBytes;

    public string Root => Path.Combine(storage.DataDirectoryFullPath, "uploads");

    /// <summary>
    /// A new staging folder for an upload of <paramref name="expectedBytes"/>, reserved until <see cref="Delete"/>.
    /// Refused with a reason, before anything is copied, when the upload is larger than one upload may be or would
    /// take the staging area over its quota (leftovers are swept first).
    /// </summary>
    /// <exception cref="InvalidDataException">Too large for one upload or for the staging space left.</exception>
    public string NewFolder(long expectedBytes = 0)
    {
        if (expectedBytes > MaxUploadBytes)
        {
            throw new InvalidDataException($"the upload is {Bytes(expectedBytes)}; one upload may be at most {Bytes(MaxUploadBytes)} (Import:MaxUploadBytes)");
        }
        lock (gate)
        {
            long used = UsedBytes();
            if (used + expectedBytes > MaxStagingBytes)
            {
                Sweep();
                used = UsedBytes();
            }
            if (used + expectedBytes > MaxStagingBytes)
            {
                throw new InvalidDataException($"the upload needs {Bytes(expectedBytes)} of staging space, but {Bytes(used)} of the {Bytes(MaxStagingBytes)} allowed (Import:MaxStagingBytes) is taken by uploads still being imported; wait for those imports to finish, or import a smaller zip");
            }
            var folder = Path.Combine(Root, Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            inUse[folder] = expectedBytes;
            return folder;
        }
    }

    /// <summary>Whether a staging folder is held by an upload or an import that has not finished.</summary>
    public bool IsInUse(string folder) => inUse.ContainsKey(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar));

    /// <summary>Bytes the staging area holds or has promised: each folder's size on disk, or its reservation while larger.</summary>
    public long UsedBytes()
    {
        long total = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(Root))
        {
            foreach (var dir in Directory.EnumerateDirectories(Root))
            {
                seen.Add(dir);
                long size = DirectorySize(dir);
                total += inUse.TryGetValue(dir, out var reserved) ? Math.Max(size, reserved) : size;
            }
            foreach (var file in Directory.EnumerateFiles(Root)) total += SafeLength(file);
        }
        total += inUse.Where(kv => !seen.Contains(kv.Key)).Sum(kv => kv.Value);
        return total;
    }

    /// <summary>Streams one browser file into <paramref name="destination"/>, reporting bytes copied.</summary>
    public async Task CopyAsync(IBrowserFile file, string destination, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (file.Size > MaxUploadBytes) throw new InvalidDataException($"{file.Name} is {file.Size:N0} bytes; uploads are limited to {MaxUploadBytes:N0}.");
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        await using var input = file.OpenReadStream(MaxUploadBytes, cancellationToken);
        await using var output = File.Create(destination);
        var buffer = new byte[256 * 1024];
        long copied = 0;
        int read;
        while ((read = await input.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            copied += read;
            progress?.Report(copied);
        }
    }

    /// <summary>A file name safe to create: the last path segment, with anything odd replaced.</summary>
    public static string SafeFileName(string name)
    {
        var last = Path.GetFileName(name.Replace('\\', '/'));
        var cleaned = new string(last.Select(c => char.IsLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()).TrimStart('.');
        return cleaned.Length == 0 ? "file" : cleaned[..Math.Min(cleaned.Length, 150)];
    }

    /// <summary>Deletes a staging folder and releases it; a folder that cannot go now is swept later.</summary>
    public void Delete(string folder)
    {
        folder = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        TryDelete(folder);
        inUse.TryRemove(folder, out _);
    }

    /// <summary>Removes everything under <c>uploads/</c> no upload or import holds; returns the bytes freed.</summary>
    public long Sweep()
    {
        if (!Directory.Exists(Root)) return 0;
        long freed = 0;
        lock (gate)
        {
            foreach (var dir in Directory.EnumerateDirectories(Root))
            {
                if (inUse.ContainsKey(dir)) continue;
                long size = DirectorySize(dir);
                if (TryDelete(dir)) freed += size;
            }
            foreach (var file in Directory.EnumerateFiles(Root))
            {
                long size = SafeLength(file);
                try
                {
                    File.Delete(file);
                    freed += size;
                }
                catch (IOException)
                {
                }
            }
        }
        if (freed > 0) logger.LogInformation("Swept {Bytes} of staged uploads no import uses", Bytes(freed));
        return freed;
    }

    /// <summary>
    /// The start-up sweep: at start no upload or import is in use yet (the data folder's lock keeps any other portal or
    /// verb out), so every staged upload is a leftover of a stopped or crashed portal. Call once before serving pages.
    /// </summary>
    public Task<long> SweepAsync(CancellationToken cancellationToken = default) => Task.Run(Sweep, cancellationToken);

    internal static long DirectorySize(string dir)
    {
        long total = 0;
        try
        {
            foreach (var file in Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint }))
            {
                total += SafeLength(file);
            }
        }
        catch (IOException)
        {
        }
        return total;
    }

    private static long SafeLength(string file)
    {
        try
        {
            return new FileInfo(file).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private bool TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("A staged upload could not be removed now ({Reason}); the next sweep tries again", ex.Message);
            return false;
        }
    }

    internal static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GB",
    };
}
