using Microsoft.AspNetCore.Components;
using WbcPortal.Services.Evaluation;

namespace WbcPortal.Components.Pages.Runs.Report;

/// <summary>
/// The exported model's report on one of its evaluations: the classification report, the confusion matrix whose
/// cells open their images, and the reliability diagram. Keeps its selection (by source) when the list is reloaded.
/// </summary>
public partial class ModelReport
{
    [Inject] private RunReportQueries Queries { get; set; } = default!;

    [Parameter, EditorRequired] public required int RunId { get; set; }
    [Parameter, EditorRequired] public required IReadOnlyList<ModelEvaluationSummary> Evaluations { get; set; }
    [Parameter, EditorRequired] public required RunFacts Facts { get; set; }

    private ModelEvaluationReport? current;
    private ConfusionCell? cell;
    private bool normalised;

    private int SelectedId => current?.Summary.Id ?? 0;

    protected override async Task OnParametersSetAsync()
    {
        if (current is not null && Evaluations.Any(e => e.Id == current.Summary.Id)) return;
        // the one that replaced it (re-evaluating a source stores it anew), else the default
        var target = current is null ? null : Evaluations.FirstOrDefault(e => e.Source == current.Summary.Source);
        target ??= RunReportQueries.DefaultSelection(Evaluations);
        if (target is not null) await LoadAsync(target.Id);
        else current = null;
    }

    /// <summary>Shows another evaluation (the evaluations table's and the evaluate panel's "Show").</summary>
    public async Task ShowAsync(int evaluationId)
    {
        await SelectAsync(evaluationId);
        StateHasChanged();
    }

    private async Task SelectAsync(int evaluationId)
    {
        if (evaluationId == SelectedId) return;
        await LoadAsync(evaluationId);
    }

    /// <summary>Loads a report; one replaced in the meantime (a list a moment old) leaves the current one shown.</summary>
    private async Task LoadAsync(int evaluationId)
    {
        var loaded = await Queries.GetReportAsync(RunId, evaluationId);
        if (loaded is null) return;
        if (loaded.Summary.Source != current?.Summary.Source) cell = null;
        current = loaded;
    }

    /// <summary>After a refit the reports are rebuilt in place (same ids): read the shown one again.</summary>
    private async Task ReloadAsync()
    {
        if (current is not null) await LoadAsync(current.Summary.Id);
    }

    /// <summary>Which images the review opens on: "test part", "validation part", or the folder or zip.</summary>
    private static string PartName(ModelEvaluationSummary e) => e.Part switch
    {
        "test" => "test part",
        "val" => "validation part",
        "train" => "training part",
        _ => "these images",
    };

    private void ShowCell(ConfusionCell selected) => cell = cell == selected ? null : selected;
}
