using Microsoft.AspNetCore.Components;
using MudBlazor;
using WbcPortal.Services;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Storage;
using WbcPortal.Services.Training;

namespace WbcPortal.Components.Pages.Runs.Actions;

/// <summary>
/// Confirms deleting one or more runs, from what depends on each (<see cref="RunDependents"/>): what goes with it, what
/// happens to its cross-validation, models, review decisions and label-issue searches, and why one may not go at all. A
/// fold is deleted only through a button that names its cross-validation. Deletes through <see cref="RunDeletion"/> and
/// closes with the <see cref="StorageDeletion"/>; a refusal from the service stays in the dialog.
/// </summary>
public partial class RunDeleteDialog
{
    [CascadingParameter] private IMudDialogInstance Dialog { get; set; } = default!;
    [Inject] private RunDeletion Deletion { get; set; } = default!;

    /// <summary>The runs to delete and what depends on each.</summary>
    [Parameter, EditorRequired] public required IReadOnlyList<RunDependencies> Runs { get; set; }

    private bool busy;
    private string? error;

    private IReadOnlyList<RunDependencies> Refused => Runs.Where(r => r.Refusal is not null).ToList();

    private IReadOnlyList<FoldOfCrossValidation> Folds => Runs.Select(r => r.CrossValidation).OfType<FoldOfCrossValidation>().ToList();

    private IReadOnlyList<string> CrossValidations => Folds.Select(f => f.Name).Distinct().ToList();

    private string FoldWarning => CrossValidations.Count == 1
        ? $"Cross-validation '{CrossValidations[0]}' will read \"incomplete ({CrossValidationLifecycle.FoldsText(FoldsOf(CrossValidations[0]))} deleted)\" for good: its mean over the other folds is no longer final, and comparisons with it are not judged."
        : $"Cross-validations {string.Join(", ", CrossValidations.Select(c => $"'{c}'"))} will read incomplete for good: their means are no longer final, and comparisons with them are not judged.";

    private string ConfirmText => Refused.Count > 0 ? "Delete"
        : CrossValidations.Count == 1 ? $"Delete and leave '{CrossValidations[0]}' incomplete"
        : CrossValidations.Count > 1 ? $"Delete and leave {CrossValidations.Count} cross-validations incomplete"
        : Runs.Count == 1 ? "Delete" : $"Delete {Runs.Count} runs";

    private List<int> FoldsOf(string crossValidation) =>
        Folds.Where(f => f.Name == crossValidation).SelectMany(f => f.AlreadyDeleted.Append(f.Fold)).Distinct().ToList();

    private static string WhatGoes(RunDependencies run)
    {
        var with = new List<string> { "its epochs, figures and predictions" };
        if (run.Files > 0) with.Add($"its folder ({run.Files:N0} file{(run.Files == 1 ? "" : "s")}, {UploadStaging.Bytes(run.Bytes)}: checkpoints and exported model)");
        var models = run.Models.Select(m => $"'{m.Name}'").ToList();
        if (models.Count > 0) with.Add($"its registered model{(models.Count == 1 ? "" : "s")} {string.Join(", ", models)}");
        return "Deleted with it: " + string.Join(", ", with.Take(with.Count - 1)) + (with.Count > 1 ? " and " : "") + with[^1] + ".";
    }

    private void Cancel() => Dialog.Cancel();

    private async Task DeleteAsync()
    {
        if (Refused.Count > 0) return;
        busy = true;
        error = null;
        var done = new List<StorageDeletion>();
        try
        {
            foreach (var run in Runs)
            {
                // The confirmation above named every cross-validation a fold of which is deleted here.
                done.Add(await Deletion.DeleteAsync(run.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture), leaveCrossValidationIncomplete: run.CrossValidation is not null));
            }
            Dialog.Close(DialogResult.Ok(StorageDeletion.Combine(done)));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IOException or UnauthorizedAccessException or System.Data.Common.DbException)
        {
            error = (done.Count > 0 ? $"{StorageDeletion.Combine(done).Sentence} Then: " : "") + UserFacingError.Describe(ex);
        }
        finally
        {
            busy = false;
        }
    }

    /// <summary>Shows the dialog for <paramref name="runs"/>; the deletion when it was made, null when cancelled.</summary>
    public static async Task<StorageDeletion?> ShowAsync(IDialogService dialogs, IReadOnlyList<RunDependencies> runs)
    {
        string title = runs.Count == 1 ? $"Delete run '{runs[0].RunName}'?" : $"Delete {runs.Count} runs?";
        var parameters = new DialogParameters<RunDeleteDialog> { { d => d.Runs, runs } };
        var dialog = await dialogs.ShowAsync<RunDeleteDialog>(title, parameters,
            new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true, BackdropClick = false });
        return await dialog.Result is { Canceled: false, Data: StorageDeletion deletion } ? deletion : null;
    }
}
