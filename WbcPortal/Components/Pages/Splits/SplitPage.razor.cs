using WbcPortal.Components.Shared;
using Microsoft.AspNetCore.Components;
using MudBlazor;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Splits;

namespace WbcPortal.Components.Pages.Splits;

/// <summary>
/// One split: its honesty, originals and images per class and part, its members, and the leak check's suspect pairs side by
/// side. The leak check of an existing split runs as a dataset job, never on the circuit.
/// </summary>
public partial class SplitPage
{
    private const int PageSize = 48;
    private const int PairsPage = 24;
    private const string AllClasses = "";

    [Inject] private SplitService Splits { get; set; } = default!;
    [Inject] private PortalJobs Jobs { get; set; } = default!;
    [Inject] private MudBlazor.ISnackbar Snackbar { get; set; } = default!;

    [Parameter] public int Id { get; set; }

    private SplitSummary? split;
    private bool notFound;
    private IReadOnlyDictionary<int, SplitMemberImage> pairImages = new Dictionary<int, SplitMemberImage>();
    private int pairsShown = PairsPage;
    private int partIndex;
    private string classFilter = AllClasses;
    private int pageIndex = 1;
    private SplitMemberPage members = new([], 0);

    private SplitPart Part => SplitParts.Values[Math.Clamp(partIndex, 0, SplitParts.Values.Count - 1)];
    private int Skip => (pageIndex - 1) * PageSize;
    private int PageCount => Math.Max(1, (members.Total + PageSize - 1) / PageSize);

    private IEnumerable<string> ClassNames => split?.Report.Parts.Values.SelectMany(c => c.Keys).Distinct().Order(StringComparer.Ordinal) ?? Enumerable.Empty<string>();

    private IEnumerable<JobView> LeakJobs => split is null ? [] : Jobs.Recent(JobKind.LeakCheck, split.Dataset).Where(IsLeakCheckOfThisSplit).Take(1);

    private bool IsLeakCheckOfThisSplit(JobView job) => job.Request is LeakCheckJob check && check.Split == split?.Name;

    private bool Busy => LeakJobs.Any(j => !j.Finished);


    private string RatiosText => split is null ? "" : split.Report.Strategy == SplitStrategy.Folders && split.Report.CarvedFromTrain is not { Count: > 0 }
        ? split.Report.RatiosText
        : $"{split.Report.RatiosText} · seed {split.Report.Seed}";

    private Severity HonestySeverity => split?.Report.Honesty.Status switch
    {
        SplitHonestyStatus.LeakFree => Severity.Success,
        SplitHonestyStatus.SuspectPairs => Severity.Warning,
        SplitHonestyStatus.Leaky or SplitHonestyStatus.LeakyByDesign => Severity.Error,
        _ => Severity.Info,
    };

    private string NoOriginalsReason => split?.Report switch
    {
        { Groups: 0 } => "No source groups: every image counts as its own original.",
        { Strategy: SplitStrategy.Random } or { Leaky: true } => "Leaky split: the same originals sit in several parts, so a part has no originals of its own to count.",
        _ => "Not recorded: this split was made before originals were counted.",
    };

    private int PartIndex
    {
        get => partIndex;
        set
        {
            if (partIndex == value) return;
            partIndex = value;
            pageIndex = 1;
            _ = InvokeAsync(LoadMembersAsync);
        }
    }

    protected override async Task OnParametersSetAsync()
    {
        await LoadSplitAsync();
        if (split is not null) await LoadMembersAsync();
    }

    protected override void OnInitialized()
    {
        Follow<JobView>(Jobs.Subscribe, job => split is not null && IsLeakCheckOfThisSplit(job));
        Follow<JobView>(Jobs.Subscribe, job => split is not null && IsLeakCheckOfThisSplit(job) && job.Finished, LoadSplitAsync, TimeSpan.FromSeconds(1));
    }

    private async Task LoadSplitAsync()
    {
        try
        {
            split = await Splits.GetAsync(Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            notFound = false;
        }
        catch (ArgumentException)
        {
            split = null;
            notFound = true;
            return;
        }
        var ids = split.Report.LeakCheck?.Pairs.SelectMany(p => new[] { p.ImageA, p.ImageB }) ?? [];
        pairImages = await Splits.GetMemberImagesAsync(split.Id, ids);
    }

    private async Task LoadMembersAsync()
    {
        if (split is null) return;
        members = await Splits.GetMemberPageAsync(split.Id, Part, classFilter == AllClasses ? null : classFilter, Skip, PageSize);
        StateHasChanged();
    }

    private async Task FilterClassAsync(string value)
    {
        classFilter = value ?? AllClasses;
        pageIndex = 1;
        await LoadMembersAsync();
    }

    private async Task ChangePageAsync(int selected)
    {
        pageIndex = selected;
        await LoadMembersAsync();
    }

    private void ShowMorePairs() => pairsShown += PairsPage;

    private async Task RunLeakCheckAsync()
    {
        if (split is null || Busy) return;
        await Jobs.EnqueueOrSayWhyAsync(new LeakCheckJob(split.Dataset, split.Name), Snackbar);
    }

    private static string PartName(string part) => SplitParts.TryParse(part, out var p) ? p.Title() : part;

    private static Color PartColor(string part) => part switch
    {
        SplitParts.Train => Color.Primary,
        SplitParts.Val => Color.Secondary,
        _ => Color.Tertiary,
    };

}
