using Microsoft.AspNetCore.Components;
using MudBlazor;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Components.Pages.Runs;

/// <summary>A cross-validation: its folds' progress live, their figures, mean ± spread and a chart.</summary>
public partial class CrossValidationPage
{
    [Inject] private CrossValidationService CrossValidations { get; set; } = default!;
    [Inject] private RunProgress RunEvents { get; set; } = default!;
    [Inject] private RunStore Store { get; set; } = default!;
    [Inject] private TrainingLauncher Launcher { get; set; } = default!;
    [Inject] private ISnackbar Snackbar { get; set; } = default!;
    [Inject] private Options.StorageOptions Storage { get; set; } = default!;
    [Inject] private NavigationManager Navigation { get; set; } = default!;
    [Inject] private CrossValidationModelJobs Models { get; set; } = default!;
    [Inject] private WbcPortal.Services.Jobs.PortalJobs Jobs { get; set; } = default!;
    /// <summary>The newest job making this cross-validation's model (from the board: found again after a refresh or a restart).</summary>
    private WbcPortal.Services.Jobs.JobView? making;

    [Parameter] public int Id { get; set; }

    private CrossValidationSummary? summary;
    private IReadOnlyList<CrossValidationListItem>? others;
    private bool loaded;

    private bool ReadOnly => Storage.ReadOnly;

    protected override async Task OnParametersSetAsync()
    {
        foreach (var (_, runId, status) in await CrossValidations.FoldRunsAsync(Id))
        {
            if (status == RunStatus.Running) await Store.CheckLeaseAsync(runId);
        }
        await ReloadAsync();
        // The model being made (or made) is a job on the board: found again after a refresh, on any node, after a restart.
        making = Models.Latest(Id);
        others = (await CrossValidations.ListAsync()).Where(c => c.Id != Id).ToList();
        loaded = true;
        if (Following) return;
        bool Mine(int runId) => summary is not null && summary.FoldRuns.Any(f => f.RunId == runId);
        // Batches move only the live line (at most every 500 ms); the folds are read again at most every 2 s, and always
        // after the last change, so a fold's final state is never dropped.
        Follow<int>(RunEvents.Subscribe, Mine, every: TimeSpan.FromMilliseconds(500));
        Follow<int>(RunEvents.Subscribe, Mine, ReloadAsync, TimeSpan.FromSeconds(2));
        Follow<WbcPortal.Services.Jobs.JobView>(Jobs.Subscribe, j => CrossValidationModelJobs.Concerns(j, Id), () => { making = Models.Latest(Id); return Task.CompletedTask; });
    }

    private async Task ReloadAsync()
    {
        try
        {
            summary = await CrossValidations.GetAsync(Id);
        }
        catch (ArgumentException)
        {
            summary = null;
        }
    }

    /// <summary>The live line of the fold training now.</summary>
    private string? LiveLine => summary?.FoldRuns.Select(f => (f.Fold, Line: LiveOf(f.RunId))).FirstOrDefault(x => x.Line is not null) is { Line: not null } x
        ? $"fold {x.Fold}/{summary!.Folds}: {x.Line}"
        : null;

    private string? LiveOf(int runId)
    {
        if (summary?.FoldRuns.FirstOrDefault(f => f.RunId == runId) is not { Status: RunStatus.Running }) return null;
        return RunEvents.Live(runId) is { } p
            ? p.Phase == "training"
                ? $"round {p.Round} epoch {p.Epoch}/{p.EpochsInRound}, batch {p.Batch}/{p.Batches}"
                : $"evaluating {p.Phase} {p.Batch}/{p.Batches}"
            // Progress is live only in the process that trains the fold (this portal's worker, or a CLI run); from here, say so.
            : "running: starting, or training in another process (the CLI); no live progress here";
    }

    private void CompareWith(int? other)
    {
        if (other is int b) Navigation.NavigateTo(CrossValidationComparePage.Url(Id, b));
    }

    private async Task StopAsync()
    {
        var result = await Launcher.StopCrossValidationAsync(Id);
        Snackbar.Add(result.Message, result.Stopped ? Severity.Info : Severity.Warning);
        await ReloadAsync();
    }

    private async Task ResumeAsync()
    {
        int queued = await Launcher.ResumeCrossValidationAsync(Id);
        Snackbar.Add(queued == 0 ? "No fold to resume." : $"{queued} fold run(s) queued again.", queued == 0 ? Severity.Warning : Severity.Info);
        await ReloadAsync();
    }

    private async Task MakeModelAsync()
    {
        try
        {
            making = await Models.EnqueueAsync(Id);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Snackbar.Add($"Not queued: {WbcPortal.Services.UserFacingError.Describe(ex)}", Severity.Error);
        }
    }

}
