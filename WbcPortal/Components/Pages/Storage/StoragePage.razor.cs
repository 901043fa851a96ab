using Microsoft.AspNetCore.Components;
using MudBlazor;
using WbcPortal.Services;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Storage;
using WbcPortal.Services.Training;
using WbcPortal.Components.Pages.Runs.Actions;

namespace WbcPortal.Components.Pages.Storage;

/// <summary>What the data folder holds, and deleting what a user chooses after a confirmation.</summary>
public partial class StoragePage
{
    [Inject] private DataFolderInventory Inventory { get; set; } = default!;
    [Inject] private RunDependents Dependents { get; set; } = default!;
    [Inject] private IDialogService Dialogs { get; set; } = default!;
    [Inject] private ISnackbar Snackbar { get; set; } = default!;

    private DataFolderReport? report;
    private readonly HashSet<int> selectedRuns = [];
    private string? error;
    private bool busy;

    private DataFolderReport Report => report!;

    private IEnumerable<(string Label, long Bytes)> Breakdown =>
    [
        ("images and thumbnails", Report.StoreBytes),
        ("runs", Report.Runs.Sum(r => r.Bytes)),
        ("staged uploads", Report.StagingBytes),
        ("unreferenced", Report.UnreferencedBytes),
        ("database", Report.DatabaseBytes),
        ("job database", Report.JobDatabaseBytes),
        ("other", Report.OtherBytes),
        ("reserve for a full disk (not data)", Report.ReserveBytes),
    ];

    private double StagingPercent => Report.StagingQuotaBytes == 0 ? 0 : Math.Min(100, 100.0 * Report.StagingBytes / Report.StagingQuotaBytes);

    protected override Task OnInitializedAsync() => ReloadAsync();

    private async Task ReloadAsync()
    {
        report = await Inventory.ListAsync();
        selectedRuns.IntersectWith(report.Runs.Where(r => r.NotDeletable is null).Select(r => r.Id));
    }

    private void ToggleRun(int id, bool on)
    {
        if (on) selectedRuns.Add(id);
        else selectedRuns.Remove(id);
    }

    private async Task DeleteDatasetAsync(StoredDataset dataset)
    {
        string runs = dataset.Runs.Count == 0 ? "" : $" {dataset.Runs.Count} run(s) were trained on its splits ({string.Join(", ", dataset.Runs)}): they are deleted with it, checkpoints and models included.";
        await ConfirmAndRunAsync("Delete dataset",
            $"Delete '{dataset.Name}' with its {dataset.Images:N0} images and {dataset.Splits} split(s), freeing about {Format(dataset.OwnBytes)}?{runs} This cannot be undone.",
            dataset.Runs.Count == 0 ? "Delete" : $"Delete with {dataset.Runs.Count} run(s)",
            () => Inventory.DeleteDatasetAsync(dataset.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), withRuns: dataset.Runs.Count > 0));
    }

    /// <summary>The selected runs, through the dialog the runs list uses: what depends on each, a fold only with its cross-validation named.</summary>
    private async Task DeleteRunsAsync()
    {
        error = null;
        var dependencies = await Dependents.OfAsync(Report.Runs.Where(r => selectedRuns.Contains(r.Id)).Select(r => r.Id));
        if (dependencies.Count == 0)
        {
            await ReloadAsync();
            return;
        }
        var done = await RunDeleteDialog.ShowAsync(Dialogs, dependencies);
        if (done is not null)
        {
            selectedRuns.Clear();
            Snackbar.Add(done.Sentence, Severity.Success);
        }
        await ReloadAsync();
    }

    private Task DeleteStagingAsync() => ConfirmAndRunAsync("Delete staged uploads",
        $"Delete the staged uploads no import is using ({Format(Report.Staging.Where(s => !s.InUse).Sum(s => s.Bytes))})?", "Delete",
        () => Task.FromResult(Inventory.DeleteStaging()));

    private Task DeleteUnreferencedAsync() => ConfirmAndRunAsync("Delete unreferenced files",
        $"Delete {Report.Unreferenced.Count:N0} file(s) no dataset, run or model references ({Format(Report.UnreferencedBytes)})? The list is checked again against the database first.", "Delete",
        () => Inventory.DeleteUnreferencedAsync());

    private async Task ConfirmAndRunAsync(string title, string message, string yes, Func<Task<StorageDeletion>> delete)
    {
        error = null;
        bool? confirmed = await Dialogs.ShowMessageBoxAsync(title, message, yesText: yes, cancelText: "Cancel");
        if (confirmed != true) return;
        busy = true;
        try
        {
            var done = await delete();
            Snackbar.Add(done.Sentence, Severity.Success);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            error = UserFacingError.Describe(ex);
        }
        finally
        {
            busy = false;
            await ReloadAsync();
        }
    }

    private static string Format(long bytes) => UploadStaging.Bytes(bytes);
}
