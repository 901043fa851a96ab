using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using MudBlazor;
using WbcPortal.Services;
using WbcPortal.Services.Classify;

namespace WbcPortal.Components.Pages.Models;

/// <summary>
/// Imports an ONNX classifier through <see cref="ModelCatalog.ImportAsync"/>: a file and a name (the file's by default),
/// the bytes read with progress, then checked; a refusal is shown as the catalog words it, a success closes the dialog
/// with the new model's card.
/// </summary>
public partial class ImportModelDialog
{
    private enum ImportStage { Idle, Reading, Checking }

    /// <summary>Why the last file was not imported, reason by reason.</summary>
    private sealed record Refusal(string File, IReadOnlyList<string> Reasons);

    [CascadingParameter] private IMudDialogInstance Dialog { get; set; } = default!;
    [Inject] private ModelCatalog Catalog { get; set; } = default!;

    private IBrowserFile? file;
    private string? name = "";
    private string? defaultName;
    private ImportStage stage;
    private long read;
    private Refusal? refusal;

    private bool Busy => stage != ImportStage.Idle;
    private bool CanImport => !Busy && file is not null && !string.IsNullOrWhiteSpace(name);
    private double ReadPercent => file is { Size: > 0 } f ? 100.0 * read / f.Size : 0;

    private void Choose(IBrowserFile? chosen)
    {
        if (chosen is null) return;
        file = chosen;
        refusal = null;
        // The file's name unless the user typed another.
        if (string.IsNullOrWhiteSpace(name) || name == defaultName)
        {
            defaultName = Path.GetFileNameWithoutExtension(chosen.Name);
            name = defaultName;
        }
    }

    private async Task ImportAsync()
    {
        if (!CanImport) return;
        var chosen = file!;
        refusal = null;
        read = 0;
        stage = ImportStage.Reading;
        int shownPercent = -1;
        // Reported on the renderer's context; redrawn once per percent.
        var progress = new Progress<long>(bytes =>
        {
            if (!Busy) return;
            read = bytes;
            if (bytes >= chosen.Size) stage = ImportStage.Checking;
            int percent = (int)ReadPercent;
            if (percent == shownPercent && stage == ImportStage.Reading) return;
            shownPercent = percent;
            StateHasChanged();
        });
        try
        {
            // The catalog refuses a file over its limit by this size before reading it.
            await using var stream = chosen.OpenReadStream(maxAllowedSize: Math.Max(chosen.Size, 1));
            var card = await Catalog.ImportAsync(name!, stream, chosen.Size, progress);
            Dialog.Close(DialogResult.Ok(card));
        }
        catch (ModelImportRefusedException ex)
        {
            refusal = new Refusal(chosen.Name, ex.Reasons);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException or System.Data.Common.DbException
                                       or Microsoft.EntityFrameworkCore.DbUpdateException or Microsoft.JSInterop.JSException)
        {
            refusal = new Refusal(chosen.Name, [UserFacingError.Describe(ex)]);
        }
        finally
        {
            stage = ImportStage.Idle;
        }
    }

    private void Cancel() => Dialog.Cancel();
}
