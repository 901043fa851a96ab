using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Components.Pages.Datasets;

public enum UploadMode
{
    Zip,
    Files,
}

/// <summary>Uploads to a staging folder on the circuit (the bytes come over it), then hands the import to a background job.</summary>
public partial class ImportPanel
{
    [Inject] private DatasetJobs Jobs { get; set; } = default!;
    [Inject] private DatasetService Datasets { get; set; } = default!;
    [Inject] private UploadStaging Staging { get; set; } = default!;

    /// <summary>Called when an import finishes, so the page can reload its list.</summary>
    [Parameter] public EventCallback ImportFinished { get; set; }

    private string? datasetName = "";
    private UploadMode mode = UploadMode.Zip;
    private string? className = "";
    private string? uploadError;
    private string uploadName = "";
    private long uploadDone, uploadTotal;
    private IDisposable? subscription;
    private IReadOnlyList<string> knownDatasets = [];

    private bool Busy => uploadTotal > 0;

    protected override async Task OnInitializedAsync()
    {
        knownDatasets = (await Datasets.ListAsync()).Select(d => d.Name).ToList();
        subscription = Jobs.Subscribe(job => _ = InvokeAsync(async () =>
        {
            StateHasChanged();
            if (job.Finished) await ImportFinished.InvokeAsync();
        }));
    }

    private bool Validate(out string dataset)
    {
        uploadError = null;
        dataset = "";
        try
        {
            dataset = DatasetService.ValidateName(datasetName);
        }
        catch (ArgumentException ex)
        {
            uploadError = ex.Message;
            return false;
        }
        if (mode == UploadMode.Files && !Engine.Datasets.Import.ClassPath.IsValidClassName(className?.Trim() ?? ""))
        {
            uploadError = "Give the class these images belong to (letters, digits, spaces, _ - .).";
            return false;
        }
        return true;
    }

    private async Task UploadZipAsync(IBrowserFile? file)
    {
        if (file is null || !Validate(out var dataset) || NewStagingFolder(file.Size) is not { } folder) return;
        var path = Path.Combine(folder, "upload.zip");
        if (!await StageAsync([file], f => path)) { Staging.Delete(folder); return; }
        string display = file.Name;
        Jobs.Enqueue("import", dataset, $"zip {display}",
            async (progress, ct) => await Datasets.ImportZipAsync(dataset, path, display, progress.ForImport(), ct),
            () => Staging.Delete(folder), CancelledNote);
    }

    private async Task UploadFilesAsync(IReadOnlyList<IBrowserFile>? files)
    {
        if (files is null || files.Count == 0 || !Validate(out var dataset) || NewStagingFolder(files.Sum(f => f.Size)) is not { } folder) return;
        var cls = className!.Trim();
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string Target(IBrowserFile f)
        {
            var name = UploadStaging.SafeFileName(f.Name);
            for (int i = 2; !used.Add(name); i++) name = $"{Path.GetFileNameWithoutExtension(UploadStaging.SafeFileName(f.Name))}_{i}{Path.GetExtension(f.Name)}";
            return Path.Combine(folder, cls, name);
        }
        if (!await StageAsync(files, Target)) { Staging.Delete(folder); return; }
        Jobs.Enqueue("import", dataset, $"{files.Count} file(s) into {cls}",
            async (progress, ct) => await Datasets.ImportFolderAsync(dataset, folder, progress.ForImport(), ct),
            () => Staging.Delete(folder), CancelledNote);
    }

    private const string CancelledNote = "images already committed stay in the dataset; the uploaded copy was removed";

    /// <summary>A staging folder for this many bytes, or null with the reason shown (too large, or no staging space left).</summary>
    private string? NewStagingFolder(long bytes)
    {
        try
        {
            return Staging.NewFolder(bytes);
        }
        catch (InvalidDataException ex)
        {
            uploadError = $"Upload refused: {ex.Message}. Nothing was copied.";
            return null;
        }
    }

    private async Task<bool> StageAsync(IReadOnlyList<IBrowserFile> files, Func<IBrowserFile, string> target)
    {
        uploadTotal = Math.Max(1, files.Sum(f => f.Size));
        uploadDone = 0;
        try
        {
            long before = 0;
            var lastRender = DateTime.MinValue;
            foreach (var file in files)
            {
                uploadName = files.Count == 1 ? file.Name : $"{files.Count} files";
                var progress = new Progress<long>(copied =>
                {
                    uploadDone = before + copied;
                    if (DateTime.UtcNow - lastRender > TimeSpan.FromMilliseconds(200))
                    {
                        lastRender = DateTime.UtcNow;
                        StateHasChanged();
                    }
                });
                await Staging.CopyAsync(file, target(file), progress, CancellationToken.None);
                before += file.Size;
            }
            return true;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidOperationException or TaskCanceledException)
        {
            uploadError = $"Upload failed: {ex.Message}. Nothing was imported.";
            return false;
        }
        finally
        {
            uploadTotal = 0;
            knownDatasets = (await Datasets.ListAsync()).Select(d => d.Name).ToList();
        }
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        _ => $"{bytes / (1024.0 * 1024):0.#} MB",
    };

    public void Dispose() => subscription?.Dispose();
}
