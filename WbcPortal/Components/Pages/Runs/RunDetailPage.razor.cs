using WbcPortal.Engine.Compute;
using Microsoft.AspNetCore.Components;
using MudBlazor;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Components.Pages.Runs;

/// <summary>A run's dashboard: live progress while it trains, its curves and rounds, then its model report and evaluations.</summary>
public partial class RunDetailPage
{
    [Inject] private RunQueries Queries { get; set; } = default!;
    [Inject] private RunReportQueries Reports { get; set; } = default!;
    [Inject] private RunDependents Dependents { get; set; } = default!;
    [Inject] private RunProgress RunEvents { get; set; } = default!;
    [Inject] private RunStore Store { get; set; } = default!;
    [Inject] private TrainingLauncher Launcher { get; set; } = default!;
    [Inject] private ISnackbar Snackbar { get; set; } = default!;
    [Inject] private NavigationManager Navigation { get; set; } = default!;

    [Parameter] public int Id { get; set; }

    private RunDetail? detail;
    private TrainingConfig? config;
    private RunLiveProgress? live;
    private IReadOnlyList<RunReportRound> rounds = [];
    private IReadOnlyList<ModelEvaluationSummary> evaluations = [];
    private RunFacts? facts;
    private bool loaded;
    private ModelReport? modelReport;

    protected override async Task OnParametersSetAsync()
    {
        // A run left Running by a process that died shows as Interrupted (resumable), not "Running · Starting…" for good.
        await Store.CheckLeaseAsync(Id);
        await ReloadAsync();
        loaded = true;
        if (Following) return;
        // The live numbers (held in memory) at most every 500 ms; what is stored (epochs, status, evaluations) at a new
        // epoch and at most every 2 s otherwise; both always once more after the last change.
        Follow<int>(RunEvents.Subscribe, runId => runId == Id, () =>
        {
            live = RunEvents.Live(Id);
            return Task.CompletedTask;
        }, TimeSpan.FromMilliseconds(500));
        Follow<int>(RunEvents.Subscribe, runId => runId == Id && (RunEvents.Live(Id) is not { Phase: "training" } now || now.Batch == 1), async () =>
        {
            live = RunEvents.Live(Id);
            await ReloadAsync();
        }, TimeSpan.FromSeconds(2));
    }

    private async Task ReloadAsync()
    {
        var loadedDetail = await Queries.GetAsync(Id);
        if (loadedDetail is not null && (detail is null || detail.Run.ConfigJson != loadedDetail.Run.ConfigJson))
        {
            config = TrainingConfig.FromJson(loadedDetail.Run.ConfigJson);
        }
        detail = loadedDetail;
        live = RunEvents.Live(Id);
        if (detail is null) return;
        rounds = RunReportQueries.Rounds(detail.Evaluations, detail.Split);
        facts = RunReportQueries.Facts(detail.Run, config!, detail.Epochs) with { DiskBytes = Dependents.FolderBytes(Id) };
        evaluations = await Reports.ListAsync(Id);
    }

    private async Task ShowEvaluationAsync(int evaluationId)
    {
        if (modelReport is not null) await modelReport.ShowAsync(evaluationId);
    }

    /// <summary>What the run ran on; before it ran (or when it failed before its device was settled), what it asked for.</summary>
    private string DeviceText => detail!.Run.Device?.Name()
        ?? (detail.Run.Status == RunStatus.Queued ? "device pending" : $"asked for {config?.Device ?? "auto"}");

    private static string Sentence(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    private bool CanStop => detail is not null && RunLifecycle.Allows(detail.Run.Status, RunAction.Stop);

    private bool CanResume => detail is not null && RunLifecycle.Allows(detail.Run.Status, RunAction.Resume);

    private async Task StopAsync()
    {
        var result = await Launcher.StopAsync(Id);
        Snackbar.Add(result.Message, result.Stopped ? Severity.Info : Severity.Warning);
        await ReloadAsync();
    }

    private async Task ResumeAsync()
    {
        try
        {
            await Launcher.ResumeAsync(Id);
        }
        catch (RunNotClaimableException ex)
        {
            Snackbar.Add(ex.Message, Severity.Warning);
        }
        await ReloadAsync();
    }

    /// <summary>The run is gone: back to the runs list (the snackbar says what went).</summary>
    private Task DeletedAsync(Services.Storage.StorageDeletion deletion)
    {
        Navigation.NavigateTo("runs");
        return Task.CompletedTask;
    }
}
