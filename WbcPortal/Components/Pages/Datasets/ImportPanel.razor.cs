using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.JSInterop;
using WbcPortal.Services;
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
    [Inject] private PortalJobs Jobs { get; set; } = default!;
    [Inject] private DatasetService Datasets { get; set; } = default!;
    [Inject] private UploadStaging Staging { get; set; } = default!;
    [Inject] private CircuitUploads Uploads { get; set; } = default!;

    /// <summary>Called when an import finishes, so the page can reload its list.</summary>
    [Parameter] public EventCallback ImportFinished { get; set; }

    private string? datasetName = "";
    private UploadMode mode = UploadMode.Zip;
    private string? className = "";
    private string? uploadError;
    private string uploadName = "";
    private long uploadDone, uploadTotal;
    /// <summary>The upload this panel is copying now, released if the panel goes first.</summary>
    private StagingLease? upload;
    private bool disposed;
    private IReadOnlyList<string> knownDatasets = [];

    private bool Busy => uploadTotal > 0;

    protected override async Task OnInitializedAsync()
    {
        knownDatasets = (await Datasets.ListAsync()).Select(d => d.Name).ToList();
        Follow<JobView>(Jobs.Subscribe, job => job.Kind == JobKind.Import);
        Follow<JobView>(Jobs.Subscribe, job => job.Kind == JobKind.Import && job.Finished, () => ImportFinished.InvokeAsync(), TimeSpan.FromSeconds(1));
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
        if (file is null || !Validate(out var dataset) || Reserve(file.Size, $"upload of {file.Name}") is not { } lease) return;
        var path = Path.Combine(lease.Folder, "upload.zip");
        string display = file.Name;
        await StageAndQueueAsync(lease, [file], f => path, new ImportJob(dataset, lease.Folder, $"zip {display}", path, display));
    }

    private async Task UploadFilesAsync(IReadOnlyList<IBrowserFile>? files)
    {
        if (files is null || files.Count == 0 || !Validate(out var dataset)) return;
        var cls = className!.Trim();
        if (Reserve(files.Sum(f => f.Size), $"upload of {files.Count} file(s) into {cls}") is not { } lease) return;
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string Target(IBrowserFile f)
        {
            var name = UploadStaging.SafeFileName(f.Name);
            for (int i = 2; !used.Add(name); i++) name = $"{Path.GetFileNameWithoutExtension(UploadStaging.SafeFileName(f.Name))}_{i}{Path.GetExtension(f.Name)}";
            return Path.Combine(lease.Folder, cls, name);
        }
        await StageAndQueueAsync(lease, files, Target, new ImportJob(dataset, lease.Folder, $"{files.Count} file(s) into {cls}"));
    }

    /// <summary>A staging lease of this circuit for this many bytes, or null with the reason shown (too large, or no staging space left).</summary>
    private StagingLease? Reserve(long bytes, string purpose)
    {
        try
        {
            return Uploads.Reserve(bytes, purpose);
        }
        catch (InvalidDataException ex)
        {
            uploadError = $"Upload refused: {ex.Message}. Nothing was copied.";
            return null;
        }
    }

    /// <summary>
    /// Copies the files into the lease's folder, then queues the import, which takes the lease over. Whatever stops it
    /// (an error, the page left, the circuit closed) releases the lease unless the job has it.
    /// </summary>
    private async Task StageAndQueueAsync(StagingLease lease, IReadOnlyList<IBrowserFile> files, Func<IBrowserFile, string> target, ImportJob job)
    {
        upload = lease;
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
                await Staging.CopyAsync(file, lease, target(file), progress, CancellationToken.None);
                before += file.Size;
            }
            await Jobs.EnqueueAsync(job, lease);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidOperationException or OperationCanceledException or TimeoutException or JSException or Microsoft.EntityFrameworkCore.DbUpdateException)
        {
            uploadError = $"Upload failed: {UserFacingError.Describe(ex)}. Nothing was imported.";
        }
        finally
        {
            upload = null;
            if (!lease.HeldByJob) lease.Release(uploadError is null ? "the upload ended" : "the upload did not complete");
            uploadTotal = 0;
            if (!disposed) knownDatasets = (await Datasets.ListAsync()).Select(d => d.Name).ToList();
        }
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        _ => $"{bytes / (1024.0 * 1024):0.#} MB",
    };

    protected override void OnDispose()
    {
        disposed = true;
        // A page left mid-upload gives its staging space back at once (a queued import holds its own).
        upload?.Release("the page was left");
    }
}
