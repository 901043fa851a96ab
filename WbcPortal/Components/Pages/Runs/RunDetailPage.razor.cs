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
    [Inject] private TrainingRunService RunEvents { get; set; } = default!;
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
    private IDisposable? subscription;
    private DateTime lastRender, lastReload;
    private ModelReport? modelReport;

    protected override async Task OnParametersSetAsync()
    {
        // A run left Running by a process that died shows as Interrupted (resumable), not "Running · Starting…" for good.
        await RunEvents.CheckLeaseAsync(Id);
        await ReloadAsync();
        loaded = true;
        subscription ??= RunEvents.Subscribe(runId =>
        {
            if (runId != Id) return;
            _ = InvokeAsync(async () =>
            {
                try
                {
                    live = RunEvents.Live(Id);
                    // While training, batches only move the live numbers: reload at a new epoch, and now and then while evaluating.
                    var now = DateTime.UtcNow;
                    bool training = detail?.Run.Status == RunStatus.Running && live is not null;
                    bool reload = !training || (live!.Phase == "training" ? live.Batch == 1 : now - lastReload > TimeSpan.FromSeconds(2));
                    if (reload)
                    {
                        lastReload = now;
                        await ReloadAsync();
                    }
                    if (reload || now - lastRender > TimeSpan.FromMilliseconds(500))
                    {
                        lastRender = now;
                        StateHasChanged();
                    }
                }
                catch (Exception ex)
                {
                    await DispatchExceptionAsync(ex);
                }
            });
        });
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
    private string DeviceText => detail!.Run.Device
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
        subscription?.Dispose();
        subscription = null;
        Navigation.NavigateTo("runs");
        return Task.CompletedTask;
    }

    public void Dispose() => subscription?.Dispose();
}
