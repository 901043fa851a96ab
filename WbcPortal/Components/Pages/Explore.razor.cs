using System.Globalization;
using Microsoft.AspNetCore.Components;
using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using PlotLayout = Plotly.Blazor.Layout;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Exploration;

namespace WbcPortal.Components.Pages;

/// <summary>
/// The Explore area. All its state is in the address (dataset, seed, grayscale, levels), so a refresh
/// shows the same page; the measurement itself is a job on the portal's job system, queued on first view
/// (<see cref="ExplorationJobs"/>), followed on the board while it runs, and kept by <see cref="ExplorationService"/>.
/// </summary>
public partial class Explore
{
    public const int GridPerClass = 8;
    public const int MasksPerClass = 2;
    public const int DefaultSeed = 1;
    public static readonly IReadOnlyList<int> DefaultLevels = [200, 180, 150];

    [Inject] private ExplorationService Exploration { get; set; } = default!;
    [Inject] private ExplorationJobs Measurements { get; set; } = default!;
    [Inject] private WbcPortal.Services.Jobs.PortalJobs Jobs { get; set; } = default!;
    [Inject] private NavigationManager Navigation { get; set; } = default!;

    [SupplyParameterFromQuery(Name = "dataset")] public int? Dataset { get; set; }
    [SupplyParameterFromQuery(Name = "seed")] public int? Seed { get; set; }
    [SupplyParameterFromQuery(Name = "gray")] public bool? Gray { get; set; }
    [SupplyParameterFromQuery(Name = "levels")] public string? Levels { get; set; }

    private IReadOnlyList<DatasetSummary>? datasets;
    private DatasetSummary? current;
    private bool notFound;
    private IReadOnlyList<ClassSample> sample = [];
    private (int Dataset, int Seed)? sampleKey;
    private ExplorationMeasurement? measurement;
    private ExplorationResult? result;
    /// <summary>Why the measurement could not be queued (its job's own failure is on its card).</summary>
    private string? error;
    private int[] levels = [.. DefaultLevels];

    private readonly List<ITrace> thresholdTraces = [];
    private IList<ITrace> histogramTraces = [];
    private IList<ITrace> borderTraces = [];
    private readonly PlotLayout histogramLayout = ExploreCharts.Layout("gray level (0 black – 255 white)", "density");
    private readonly PlotLayout thresholdLayout = ExploreCharts.Layout("class", "% of pixels darker than the level", BarModeEnum.Group);
    private readonly PlotLayout borderLayout = ExploreCharts.Layout("near-black share of the image", "% of the class's images", BarModeEnum.Overlay, xPercent: true);
    private PlotlyChart? thresholdChart;
    private bool thresholdChartStale;

    private int EffectiveSeed => Seed ?? DefaultSeed;
    private bool IsGray => Gray ?? false;

    private string SampleSource(SampleImage image) =>
        IsGray ? $"api/images/{image.Sha256}/view?mode=gray" : $"api/images/{image.Sha256}/thumb";

    protected override async Task OnParametersSetAsync()
    {
        var newLevels = ParseLevels(Levels);
        bool levelsChanged = !newLevels.SequenceEqual(levels);
        levels = newLevels;

        int id;
        if (Dataset is { } named) id = named;
        else
        {
            // From the menu the address names no dataset: show the newest, as if picked.
            datasets = await Exploration.ListDatasetsAsync();
            if (Newest(datasets) is not { } newest)
            {
                Reset();
                return;
            }
            id = newest.Id;
        }
        current = datasets?.FirstOrDefault(d => d.Id == id);
        if (current is null)
        {
            datasets = await Exploration.ListDatasetsAsync(); // it may have been imported since the list was read
            current = datasets.FirstOrDefault(d => d.Id == id);
        }
        notFound = current is null;
        if (current is null)
        {
            Reset();
            return;
        }

        if (sampleKey != (id, EffectiveSeed))
        {
            sample = await Exploration.GetSampleAsync(id, GridPerClass, EffectiveSeed);
            sampleKey = (id, EffectiveSeed);
        }
        // The content's key reads every image row: once per dataset shown, not on each change of the levels or the colour.
        if (measurement?.Key.DatasetId != current.Id) await MeasureAsync(await Exploration.KeyAsync(current.Id));
        else if (levelsChanged && result is not null)
        {
            ExploreCharts.FillThresholds(thresholdTraces, result, levels);
            thresholdChartStale = true;
        }
        if (!Following) Follow<WbcPortal.Services.Jobs.JobView>(Jobs.Subscribe, j => current is { } shown && ExplorationJobs.Concerns(j, shown.Id), ReloadMeasurementAsync);
    }

    /// <summary>Shows the dataset's measurement: made (here or by any node), running, or queued now when never asked for.</summary>
    private async Task MeasureAsync(ExplorationKey key)
    {
        result = null;
        error = null;
        measurement = Measurements.For(current!, key);
        if (measurement.NeverAsked) await QueueAsync();
        ShowIfMeasured();
    }

    private async Task QueueAsync()
    {
        error = null;
        try
        {
            measurement = await Measurements.EnqueueAsync(current!);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            error = WbcPortal.Services.UserFacingError.Describe(ex);
        }
        ShowIfMeasured();
    }

    /// <summary>On a change of its job on the board: its progress, its end, and the measures once made.</summary>
    private Task ReloadMeasurementAsync()
    {
        if (current is not null && measurement is not null && measurement.Key.DatasetId == current.Id)
        {
            measurement = Measurements.For(current, measurement.Key);
            ShowIfMeasured();
        }
        return Task.CompletedTask;
    }

    private void ShowIfMeasured()
    {
        if (measurement?.Result is { } measured && !ReferenceEquals(measured, result)) Show(measured);
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (thresholdChartStale && thresholdChart is not null)
        {
            thresholdChartStale = false;
            await thresholdChart.React();
        }
    }

    private void Show(ExplorationResult measured)
    {
        result = measured;
        histogramTraces = ExploreCharts.Histograms(measured);
        ExploreCharts.FitHistogramRange(histogramLayout, measured);
        borderTraces = ExploreCharts.Borders(measured);
        ExploreCharts.FillThresholds(thresholdTraces, measured, levels);
    }

    private void Reset()
    {
        current = null;
        sample = [];
        sampleKey = null;
        measurement = null;
        result = null;
        error = null;
    }

    /// <summary>The most recently created dataset (the last imported or made), or null when there is none.</summary>
    public static DatasetSummary? Newest(IEnumerable<DatasetSummary> datasets) =>
        datasets.OrderByDescending(d => d.CreatedAt).ThenByDescending(d => d.Id).FirstOrDefault();

    /// <summary>Levels from the address: up to four integers 0..255, separated by commas; the study's three otherwise.</summary>
    public static int[] ParseLevels(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return [.. DefaultLevels];
        var parsed = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int level) || level is < 0 or > 255) return [.. DefaultLevels];
            parsed.Add(level);
        }
        return parsed.Count is > 0 and <= 4 ? [.. parsed] : [.. DefaultLevels];
    }

    private Task SelectDatasetAsync(int? id) => GoAsync(new Dictionary<string, object?> { ["dataset"] = id, ["seed"] = null }, replace: false);

    private Task ShuffleAsync() => GoAsync(new Dictionary<string, object?> { ["seed"] = Random.Shared.Next(2, 100_000) }, replace: false);

    private Task SetGrayAsync(bool gray) => GoAsync(new Dictionary<string, object?> { ["gray"] = gray ? true : null }, replace: true);

    private Task SetLevelAsync(int index, int value)
    {
        var next = levels.ToArray();
        next[index] = Math.Clamp(value, 0, 255);
        return GoAsync(new Dictionary<string, object?> { ["levels"] = LevelsQuery(next) }, replace: true);
    }

    private Task ResetLevelsAsync() => GoAsync(new Dictionary<string, object?> { ["levels"] = null }, replace: true);

    private static string? LevelsQuery(int[] values) =>
        values.SequenceEqual(DefaultLevels) ? null : string.Join(',', values.Select(v => v.ToString(CultureInfo.InvariantCulture)));

    private Task GoAsync(IReadOnlyDictionary<string, object?> changes, bool replace)
    {
        // The dataset shown by default is written into the address with the first change, so the page stays on it.
        if (!changes.ContainsKey("dataset") && Dataset is null && current is not null) changes = new Dictionary<string, object?>(changes) { ["dataset"] = current.Id };
        Navigation.NavigateTo(Navigation.GetUriWithQueryParameters(changes), new NavigationOptions { ReplaceHistoryEntry = replace });
        return Task.CompletedTask;
    }
}
