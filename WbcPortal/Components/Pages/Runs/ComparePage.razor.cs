using System.Globalization;
using Microsoft.AspNetCore.Components;
using Plotly.Blazor;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;
using PlotLayout = Plotly.Blazor.Layout;

namespace WbcPortal.Components.Pages.Runs;

/// <summary>
/// Runs side by side. The selection (in order: the first is the baseline) and the all-keys switch live in the
/// address, so a refresh or a shared link shows the same comparison; the figures come from <see cref="RunComparison"/>.
/// </summary>
public partial class ComparePage : IDisposable
{
    [Inject] private RunComparison Comparison { get; set; } = default!;
    [Inject] private RunQueries Queries { get; set; } = default!;
    [Inject] private RunChanges Changes { get; set; } = default!;
    [Inject] private NavigationManager Navigation { get; set; } = default!;

    [SupplyParameterFromQuery(Name = "ids")] public string? Ids { get; set; }
    [SupplyParameterFromQuery(Name = "all")] public bool? All { get; set; }

    private IReadOnlyList<RunListItem>? candidates;
    private IReadOnlyList<int> selected = [];
    private IReadOnlyList<string> invalid = [];
    private RunComparisonResult? result;
    private string loadedKey = "";
    private int comparedChanged;
    private int chartVersion;

    private static readonly TimeSpan ReloadDelay = TimeSpan.FromSeconds(1);

    private IList<ITrace> accuracyTraces = [];
    private IList<ITrace> lossTraces = [];
    private PlotLayout accuracyLayout = new();
    private PlotLayout lossLayout = new();

    private bool ShowAllKeys => All ?? false;
    private IReadOnlyList<ComparedRun> Compared => result?.Runs ?? [];

    /// <summary>Runs a comparison can pick: every run that is no longer queued or training.</summary>
    public static bool IsFinished(RunStatus status) => !RunLifecycle.IsActive(status);

    /// <summary>The run ids of <c>?ids=</c> in order, repeats dropped, and the parts that are not ids.</summary>
    public static (IReadOnlyList<int> Ids, IReadOnlyList<string> Invalid) ParseIds(string? ids)
    {
        var valid = new List<int>();
        var invalid = new List<string>();
        foreach (var part in (ids ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int id) && id > 0) { if (!valid.Contains(id)) valid.Add(id); }
            else invalid.Add(part);
        }
        return (valid, invalid);
    }

    /// <summary>The compare page's address for these runs (the first is the baseline).</summary>
    public static string Url(IEnumerable<int> ids, bool allKeys = false)
    {
        var list = string.Join(",", ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));
        var query = new List<string>();
        if (list.Length > 0) query.Add($"ids={list}");
        if (allKeys) query.Add("all=true");
        return query.Count == 0 ? "runs/compare" : $"runs/compare?{string.Join("&", query)}";
    }

    protected override async Task OnParametersSetAsync()
    {
        (selected, invalid) = ParseIds(Ids);
        await LoadAsync(force: false);
        // Once per second however many notifications arrive (a training run sends one per batch), and always after the
        // last one, so a run that finishes shows up.
        if (!Following) Follow<int>(Changes.Subscribe, runId => { OnRunChanged(runId); return true; }, ReloadChangedAsync, ReloadDelay);
    }

    private async Task LoadAsync(bool force)
    {
        var runs = await Queries.ListAsync();
        candidates = runs.Where(r => IsFinished(r.Status) || selected.Contains(r.Id)).OrderBy(r => r.Id).ToList();
        string key = string.Join(",", selected);
        if (!force && key == loadedKey && result is not null) return;
        loadedKey = key;
        result = selected.Count == 0 ? null : await Comparison.CompareAsync(selected);
        var compared = result?.Runs ?? [];
        accuracyTraces = CompareCharts.Traces(compared, e => e.ValAccuracy);
        lossTraces = CompareCharts.Traces(compared, e => e.ValLoss);
        accuracyLayout = CompareCharts.Layout(compared, "validation accuracy", percent: true);
        lossLayout = CompareCharts.Layout(compared, "validation loss", percent: false);
    }

    /// <summary>A run changed: the list (and, when a compared run changed, the comparison) is read again.</summary>
    private void OnRunChanged(int runId)
    {
        if (selected.Contains(runId)) Volatile.Write(ref comparedChanged, 1);
    }

    private async Task ReloadChangedAsync()
    {
        bool force = Interlocked.Exchange(ref comparedChanged, 0) == 1;
        await LoadAsync(force);
        if (force) chartVersion++;
    }

    /// <summary>The picked ids the picker can show; an unknown id is reported above the comparison and dropped with the next pick.</summary>
    private IReadOnlyCollection<int> PickedKnown => selected.Where(id => candidates?.Any(r => r.Id == id) == true).ToList();

    private string RunName(int id) => candidates?.FirstOrDefault(r => r.Id == id)?.Name ?? $"run {id}";

    private int ColourIndex(int id)
    {
        int index = Compared.Select(r => r.Id).ToList().IndexOf(id);
        return index < 0 ? 0 : index;
    }

    /// <summary>Keeps the order of runs already picked (so the baseline stays) and appends new picks.</summary>
    private void OnPicked(IEnumerable<int>? values)
    {
        var picked = (values ?? []).ToHashSet();
        var order = PickedKnown.Where(picked.Contains).Concat(picked.Except(PickedKnown).Order()).ToList();
        Navigation.NavigateTo(Url(order, ShowAllKeys));
    }

    private void Remove(int id) => Navigation.NavigateTo(Url(selected.Where(i => i != id), ShowAllKeys));

    private void MakeBaseline(int id) => Navigation.NavigateTo(Url(selected.Where(i => i == id).Concat(selected.Where(i => i != id)), ShowAllKeys));

    private void SetShowAll(bool value) => Navigation.NavigateTo(Url(selected, value));

    /// <summary>Recreates the charts when the compared runs or their epochs change.</summary>
    private string ChartKey => $"{loadedKey}#{chartVersion}";

}
