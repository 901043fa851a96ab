using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using MudBlazor;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Storage;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Components.Pages.Runs.Actions;

/// <summary>
/// Rename, notes and delete for one run, as a menu (the runs list) or buttons (the run page). Each action is offered
/// where <see cref="RunLifecycle"/> allows it from the run's status and the signed-in role may do it (the services check
/// both again); nothing shows on a read-only portal. Delete opens <see cref="RunDeleteDialog"/> with what depends on the run.
/// </summary>
public partial class RunActions
{
    [Inject] private RunDependents Dependents { get; set; } = default!;
    [Inject] private IDialogService Dialogs { get; set; } = default!;
    [Inject] private ISnackbar Snackbar { get; set; } = default!;
    [Inject] private Options.StorageOptions Storage { get; set; } = default!;

    [CascadingParameter] private Task<AuthenticationState>? Authentication { get; set; }

    [Parameter, EditorRequired] public required int RunId { get; set; }
    [Parameter, EditorRequired] public required string Name { get; set; }
    [Parameter, EditorRequired] public required RunStatus Status { get; set; }
    [Parameter] public string? Notes { get; set; }

    /// <summary>Buttons (the run page) instead of a menu (a row of the runs list).</summary>
    [Parameter] public bool Buttons { get; set; }

    /// <summary>After a rename or new notes.</summary>
    [Parameter] public EventCallback Changed { get; set; }

    /// <summary>After the run was deleted, with what went.</summary>
    [Parameter] public EventCallback<StorageDeletion> Deleted { get; set; }

    private bool canEdit, canDelete;
    private MudMenu? menu;

    private bool Shown => !Storage.ReadOnly && (canEdit || canDelete);
    private bool CanRename => RunLifecycle.Allows(Status, RunAction.Rename);
    private bool CanEditNotes => RunLifecycle.Allows(Status, RunAction.EditNotes);

    /// <summary>Why the status alone rules deletion out (the dialog says the rest: an active model, a cross-validation).</summary>
    private string? DeleteRefusal => RunLifecycle.Refusal(Status, RunAction.Delete, Name);

    protected override async Task OnParametersSetAsync()
    {
        var role = Authentication is null ? (PortalRole?)null : UserAccounts.RoleOf((await Authentication).User);
        canEdit = role is { } r1 && PortalAccess.Allows(r1, PortalAction.EditRuns);
        canDelete = role is { } r2 && PortalAccess.Allows(r2, PortalAction.Delete);
    }

    /// <summary>The menu closes before its dialog opens (it would stay open above the dialog until the dialog closed).</summary>
    private async Task CloseMenuAsync()
    {
        if (menu is not null) await menu.CloseMenuAsync();
    }

    private async Task RenameAsync()
    {
        await CloseMenuAsync();
        var dialog = await Dialogs.ShowAsync<RunRenameDialog>($"Rename run '{Name}'",
            new DialogParameters<RunRenameDialog> { { d => d.RunId, RunId }, { d => d.Current, Name } },
            new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true });
        if (await dialog.Result is not { Canceled: false, Data: string renamed }) return;
        Snackbar.Add($"Run '{Name}' is now '{renamed}'.", Severity.Success);
        await Changed.InvokeAsync();
    }

    private async Task NotesAsync()
    {
        await CloseMenuAsync();
        var dialog = await Dialogs.ShowAsync<RunNotesDialog>($"Notes on '{Name}'",
            new DialogParameters<RunNotesDialog> { { d => d.RunId, RunId }, { d => d.Current, Notes } },
            new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true });
        if (await dialog.Result is not { Canceled: false }) return;
        Snackbar.Add($"Notes on '{Name}' saved.", Severity.Success);
        await Changed.InvokeAsync();
    }

    private async Task DeleteAsync()
    {
        await CloseMenuAsync();
        var dependencies = await Dependents.OfAsync([RunId]);
        if (dependencies.Count == 0)
        {
            Snackbar.Add($"Run '{Name}' is gone already.", Severity.Info);
            await Changed.InvokeAsync();
            return;
        }
        var deletion = await RunDeleteDialog.ShowAsync(Dialogs, dependencies);
        if (deletion is null)
        {
            await Changed.InvokeAsync(); // a dialog that failed half way may still have changed something
            return;
        }
        Snackbar.Add(deletion.Sentence, Severity.Success);
        await Deleted.InvokeAsync(deletion);
    }
}
