using System.Globalization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Server.ProtectedBrowserStorage;
using Microsoft.AspNetCore.Components.Web;
using WbcPortal.Components.Pages.Review;
using WbcPortal.Engine.Evaluation.Reject;
using WbcPortal.Services;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Smears;

namespace WbcPortal.Components.Pages.Smears;

/// <summary>
/// The Smears page: upload smears (a background batch whose id is in the address), every white cell boxed over its smear,
/// a cell's window, top three and Grad-CAM, the differential count with its intervals, and a reviewer's corrections (keyboard
/// as on the review page), each stored with who and when and undoable. The count is <see cref="SmearJob.Count"/>, as the report's.
/// </summary>
public partial class SmearsPage : IDisposable
{
    private const int DisplayWidth = 720;
    private static readonly string Unidentified = ClassDecision.UnidentifiedName;
    private static readonly string[] Palette = ["#e53935", "#1e88e5", "#43a047", "#8e24aa", "#fb8c00", "#00897b", "#6d4c41", "#d81b60", "#3949ab"];

    private enum DrawMode { None, Add, Redraw }

    [Inject] private ModelCatalog Catalog { get; set; } = default!;
    [Inject] private SmearJobs Jobs { get; set; } = default!;
    [Inject] private WbcPortal.Services.Jobs.PortalJobs Board { get; set; } = default!;
    [Inject] private ClassifyUploads Uploads { get; set; } = default!;
    [Inject] private PredictionService Predictions { get; set; } = default!;
    [Inject] private NavigationManager Navigation { get; set; } = default!;
    [Inject] private WbcPortal.Options.InferenceOptions Inference { get; set; } = default!;
    [Inject] private ProtectedLocalStorage Local { get; set; } = default!;
    [Inject] private SmearDatasets Datasets { get; set; } = default!;

    [SupplyParameterFromQuery(Name = "model")] public int? Model { get; set; }
    [SupplyParameterFromQuery(Name = "batch")] public string? Batch { get; set; }
    [SupplyParameterFromQuery(Name = "smear")] public int? Smear { get; set; }
    [SupplyParameterFromQuery(Name = "view")] public string? View { get; set; }
    [SupplyParameterFromQuery(Name = "cell")] public int? Cell { get; set; }

    private const string QueueView = "queue";

    private IReadOnlyList<ModelCard>? cards;
    private SmearJob? job;
    private List<SmearJob> recent = [];
    private bool reading;
    private string? error, cellError, reviewer, datasetName, datasetNote, otherClass;
    private int? selectedCell, camClass;
    private DrawMode drawMode;
    private (int X, int Y)? drawStart, drawEnd;
    private bool preventKeys = true;
    private ElementReference canvas;

    private int ModelId => Model ?? job?.Model.ModelId ?? cards?.FirstOrDefault(c => c.Active)?.Id ?? cards?.FirstOrDefault()?.Id ?? 0;
    private ModelCard? Selected => cards?.FirstOrDefault(c => c.Id == ModelId);
    private int Current => Math.Max(0, Smear ?? 0);
    private bool CanUndo => job?.Corrections.Any(c => c.UndoneAt is null && c.Image == Current) == true;

    protected override async Task OnInitializedAsync()
    {
        cards = await Catalog.ListAsync();
        // The batch's job on the board (at once, at most four times a second while it runs, once when it ends), and its corrections.
        Follow<WbcPortal.Services.Jobs.JobView>(Board.Subscribe, v => v.Kind == WbcPortal.Services.Jobs.JobKind.SmearBatch && v.Subject == job?.Id, ReloadAsync);
        Follow<string>(Jobs.Subscribe, id => id == job?.Id, ReloadAsync);
    }

    private Task ReloadAsync()
    {
        if (Batch is not null) job = Jobs.Get(Batch);
        return Task.CompletedTask;
    }

    protected override void OnParametersSet()
    {
        var next = Batch is null ? null : Jobs.Get(Batch);
        if (next?.Id != job?.Id) ResetSelection();
        job = next;
        // A cell picked in the review queue opens selected on its smear.
        if (Cell is int picked && View != QueueView) (selectedCell, camClass) = (picked, null);
        if (job is null) recent = Jobs.List().Take(10).Select(b => Jobs.Get(b.Id)).OfType<SmearJob>().ToList();
    }

    [CascadingParameter] private Task<Microsoft.AspNetCore.Components.Authorization.AuthenticationState>? Authentication { get; set; }

    /// <summary>Signed in: corrections are recorded with the signed-in user (the services take it from the sign-in anyway).</summary>
    private bool reviewerSignedIn;

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (!firstRender) return;
        if (Authentication is not null && (await Authentication).User.Identity is { IsAuthenticated: true, Name: { } signedIn })
        {
            (reviewer, reviewerSignedIn) = (signedIn, true);
            StateHasChanged();
            return;
        }
        try
        {
            var stored = await Local.GetAsync<string>(ReviewPage.ReviewerKey);
            reviewer = stored.Success && !string.IsNullOrWhiteSpace(stored.Value) ? stored.Value : null;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            await Local.DeleteAsync(ReviewPage.ReviewerKey);
        }
        StateHasChanged();
    }

    private async Task SetReviewerAsync(string? name)
    {
        reviewer = string.IsNullOrWhiteSpace(name) ? null : name.Trim();
        if (reviewer is null) await Local.DeleteAsync(ReviewPage.ReviewerKey);
        else await Local.SetAsync(ReviewPage.ReviewerKey, reviewer);
    }

    private string Address(int modelId, string? batch, int? smear = null, string? view = null, int? cell = null) =>
        Navigation.GetUriWithQueryParameters("smears", new Dictionary<string, object?> { ["model"] = modelId, ["batch"] = batch, ["smear"] = smear, ["view"] = view, ["cell"] = cell });

    /// <summary>The batch's review queue: every cell in force, Unidentified first, then the least confident; corrected cells last.</summary>
    private IEnumerable<(int Image, SmearCellResult Cell)> Queue(SmearBatch result) =>
        Enumerable.Range(0, result.Images.Count).SelectMany(i => job!.Cells(i).Select(c => (Image: i, Cell: c)))
            .OrderBy(x => x.Cell.Corrected ? 1 : 0)
            .ThenBy(x => x.Cell.Label == Unidentified ? 0 : 1)
            .ThenBy(x => x.Cell.Confidence);

    private void ResetSelection() => (selectedCell, camClass, drawMode, drawStart, drawEnd, cellError) = (null, null, DrawMode.None, null, null, null);

    private void Select(int index)
    {
        ResetSelection();
        Navigation.NavigateTo(Address(ModelId, Batch, index));
    }

    private async Task SelectCell(int id)
    {
        if (drawMode != DrawMode.None) return;
        (selectedCell, camClass, cellError) = (id, null, null);
        await canvas.FocusAsync();
    }

    private static int DisplayHeight(SmearImageResult smear) => (int)Math.Round((double)DisplayWidth * smear.Height / Math.Max(1, smear.Width));

    /// <summary>A class's colour: the model's classes by their index, other classes after them, Unidentified grey.</summary>
    private static string ColorOf(string label, IReadOnlyList<string> labels)
    {
        if (label == Unidentified) return "#757575";
        int k = labels.ToList().IndexOf(label);
        // A class the model does not know gets a colour from its name (the same in every process: string hashes are randomised).
        return Palette[(k >= 0 ? k : labels.Count + label.Sum(c => c) % 4) % Palette.Length];
    }

    /// <summary>The classes a reviewer can give: the model's, and those of the smears' own classes already given (e.g. BASOPHIL), and Unidentified.</summary>
    private IReadOnlyList<string> ClassChoices(SmearBatch result)
    {
        var given = job!.Corrections.Where(c => c.Label is not null && c.Label != Unidentified && !result.Labels.Contains(c.Label)).Select(c => c.Label!);
        return result.Labels.Concat(given.Distinct().Order(StringComparer.Ordinal)).Append(Unidentified).ToList();
    }

    private void ToggleDraw(DrawMode mode)
    {
        if (mode == DrawMode.Redraw && selectedCell is null) return;
        drawMode = drawMode == mode ? DrawMode.None : mode;
        (drawStart, drawEnd) = (null, null);
    }

    private static (int X, int Y) ToImage(MouseEventArgs a, SmearImageResult smear)
    {
        double scale = (double)smear.Width / DisplayWidth;
        return ((int)Math.Round(a.OffsetX * scale), (int)Math.Round(a.OffsetY * scale));
    }

    private void DrawStart(MouseEventArgs a, SmearImageResult smear) => (drawStart, drawEnd) = (ToImage(a, smear), ToImage(a, smear));

    private void DrawMove(MouseEventArgs a, SmearImageResult smear)
    {
        if (drawStart is not null && a.Buttons == 1) drawEnd = ToImage(a, smear);
    }

    private async Task DrawEndAsync(MouseEventArgs a, SmearImageResult smear)
    {
        if (drawStart is not { } s) return;
        var e = ToImage(a, smear);
        (drawStart, drawEnd) = (null, null);
        int[] box = [Math.Min(s.X, e.X), Math.Min(s.Y, e.Y), Math.Max(s.X, e.X), Math.Max(s.Y, e.Y)];
        var mode = drawMode;
        drawMode = DrawMode.None;
        if (mode == DrawMode.Add)
        {
            var added = await CorrectAsync(-1, SmearCorrectionKind.Add, box, Unidentified);
            if (added is not null) selectedCell = added.Cell;
        }
        else if (mode == DrawMode.Redraw && selectedCell is { } id)
        {
            await CorrectAsync(id, SmearCorrectionKind.Move, box, null);
        }
        await canvas.FocusAsync();
    }

    private async Task<SmearCorrection?> CorrectAsync(int cell, SmearCorrectionKind kind, int[]? box, string? label)
    {
        if (job is null) return null;
        cellError = null;
        try
        {
            return await Jobs.CorrectAsync(job.Id, Current, cell, kind, box, label, reviewer ?? "");
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            cellError = "Not changed: " + UserFacingError.Describe(ex);
            return null;
        }
    }

    private async Task RelabelAsync(string label)
    {
        if (selectedCell is { } id) await CorrectAsync(id, SmearCorrectionKind.Relabel, null, label);
    }

    /// <summary>A class the model does not know (BCCD has basophils): counted under its own name, and offered by a key from then on.</summary>
    private async Task SetOtherClassAsync()
    {
        if (string.IsNullOrWhiteSpace(otherClass)) return;
        string label = otherClass.Trim().ToUpperInvariant();
        await RelabelAsync(label);
        if (cellError is null) otherClass = null;
    }

    private async Task DeleteAsync()
    {
        if (selectedCell is not { } id) return;
        if (await CorrectAsync(id, SmearCorrectionKind.Delete, null, null) is not null) selectedCell = null;
    }

    private async Task UndoAsync()
    {
        if (job is null) return;
        cellError = null;
        try
        {
            await Jobs.UndoAsync(job.Id, Current, reviewer ?? "");
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            cellError = "Not undone: " + UserFacingError.Describe(ex);
        }
    }

    private async Task NudgeAsync(int dx, int dy)
    {
        if (job is null || selectedCell is not { } id || job.Cells(Current).FirstOrDefault(c => c.Id == id) is not { } cell) return;
        await CorrectAsync(id, SmearCorrectionKind.Move, [cell.Box[0] + dx, cell.Box[1] + dy, cell.Box[2] + dx, cell.Box[3] + dy], null);
    }

    private async Task OnKeyAsync(KeyboardEventArgs e)
    {
        if (job?.Result is not { } result) return;
        int step = e.ShiftKey ? 16 : 4;
        var choices = ClassChoices(result);
        switch (e.Key)
        {
            case var k when k.Length == 1 && k[0] is >= '1' and <= '9' && k[0] - '1' < choices.Count:
                await RelabelAsync(choices[k[0] - '1']);
                break;
            case "u" or "U": await RelabelAsync(Unidentified); break;
            case "Delete" or "Backspace": await DeleteAsync(); break;
            case "ArrowLeft": await NudgeAsync(-step, 0); break;
            case "ArrowRight": await NudgeAsync(step, 0); break;
            case "ArrowUp": await NudgeAsync(0, -step); break;
            case "ArrowDown": await NudgeAsync(0, step); break;
            case "a" or "A": ToggleDraw(DrawMode.Add); break;
            case "r" or "R": ToggleDraw(DrawMode.Redraw); break;
            case "z" or "Z": await UndoAsync(); break;
            case "Escape": ResetSelection(); break;
            case "Tab":
                var cells = job.Cells(Current);
                if (cells.Count > 0)
                {
                    int at = cells.ToList().FindIndex(c => c.Id == selectedCell);
                    selectedCell = cells[(at + (e.ShiftKey ? cells.Count - 1 : 1) + cells.Count) % cells.Count].Id;
                    camClass = null;
                }
                break;
        }
    }

    private async Task RunAgainAsync()
    {
        if (job is null) return;
        error = null;
        reading = true;
        try
        {
            var started = await Jobs.EnqueueAgainAsync(job.Id);
            Navigation.NavigateTo(Address(ModelId, started.Id));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException)
        {
            error = "Not read: " + UserFacingError.Describe(ex);
        }
        finally
        {
            reading = false;
        }
    }

    private async Task UploadAsync(IReadOnlyList<IBrowserFile>? files)
    {
        if (files is null || files.Count == 0) return;
        error = null;
        reading = true;
        try
        {
            var model = Selected ?? throw new InvalidOperationException("Choose a model first.");
            var choice = await Predictions.ResolveAsync(model.Id.ToString(CultureInfo.InvariantCulture), allowFile: false, CancellationToken.None);
            var collector = Uploads.NewCollector();
            foreach (var file in files)
            {
                await using var stream = file.OpenReadStream(Inference.MaxBatchBytes);
                await Uploads.AddAsync(collector, file.Name, stream, CancellationToken.None);
            }
            if (collector.Inputs.Count == 0)
            {
                error = "No smear image to read: " + string.Join("; ", collector.Skipped.Take(3).Select(s => $"{s.File}: {s.Reason}"));
                return;
            }
            var started = await Jobs.EnqueueAsync(choice, collector.Inputs, collector.Skipped);
            Navigation.NavigateTo(Address(model.Id, started.Id, 0));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException or InvalidDataException)
        {
            error = "Not read: " + UserFacingError.Describe(ex);
        }
        finally
        {
            reading = false;
        }
    }

    private static string EligibleText(SmearJob job) => SmearDatasets.Eligible(job) is { Count: > 0 } e
        ? "centred crops at the Kaggle scale: " + string.Join(", ", e.Select(x => $"{x.Value} {x.Key}")) + " (unidentified cells left out)"
        : "give the cells a class first";

    private async Task MakeDatasetAsync()
    {
        if (job is null) return;
        (cellError, datasetNote) = (null, null);
        try
        {
            var queued = await Task.Run(() => Datasets.EnqueueAsync(job.Id, datasetName ?? "", CancellationToken.None));
            datasetNote = $"Importing into {queued.Subject}: follow it on the Datasets page.";
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            cellError = "No dataset made: " + UserFacingError.Describe(ex);
        }
    }

}
