using Microsoft.AspNetCore.Components.Forms;
using WbcPortal.Options;

namespace WbcPortal.Services.Datasets;

/// <summary>
/// Copies browser uploads to a private folder under the data folder before the import job reads them,
/// so the import runs off the circuit and a closed tab cannot cut it short.
/// </summary>
public sealed class UploadStaging(StorageOptions storage, Microsoft.Extensions.Options.IOptions<ImportOptions> import)
{
    public long MaxUploadBytes => import.Value.MaxUploadBytes;

    public string NewFolder()
    {
        var folder = Path.Combine(storage.DataDirectoryFullPath, "uploads", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
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

    public static void Delete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // Swept with the next start-up's orphan sweep at the latest.
        }
    }
}
