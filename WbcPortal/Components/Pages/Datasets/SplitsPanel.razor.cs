using WbcPortal.Components.Shared;
using Microsoft.AspNetCore.Components;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Grouping;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Splits;

namespace WbcPortal.Components.Pages.Datasets;

/// <summary>Finds source groups and creates split versions as background jobs; lists the dataset's splits.</summary>
public partial class SplitsPanel
{
    [Inject] private PortalJobs Jobs { get; set; } = default!;
    [Inject] private MudBlazor.ISnackbar Snackbar { get; set; } = default!;
    [Inject] private GroupingService Grouping { get; set; } = default!;
    [Inject] private SplitService Splits { get; set; } = default!;

    [Parameter, EditorRequired] public required DatasetSummary Dataset { get; set; }

    /// <summary>Called when a job of this dataset finishes (groups or splits changed).</summary>
    [Parameter] public EventCallback Changed { get; set; }

    private SplitStrategy strategy = SplitStrategy.Grouped;
    private double train = 0.7, val = 0.15, test = 0.15;
    private int seed = 42;
    private bool carveMissing;
    private GroupingMargin margin = GroupingMargin.Cautious;
    private bool keepTogether = true;
    private GroupingState? grouping;
    private string? name;
    private string? formError;
    private IReadOnlyList<SplitSummary> splits = [];

    /// <summary>
    /// What the chosen margin costs on this dataset, from its last grouping: "cautious: 251 groups (largest 700 images) instead of
    /// 275 (largest 350)"; null before the dataset was grouped.
    /// </summary>
    private string? MarginCost
    {
        get
        {
            if (grouping?.CutAt(GroupingMargin.Standard) is not { } standard || grouping.CutAt(GroupingMargin.Cautious) is not { } cautious) return null;
            string Of(GroupingCutSummary c) => $"{c.Groups:N0} groups (largest {c.LargestGroup:N0} images)";
            string stale = grouping.Current ? "" : " (found by an older grouper: the split finds them again)";
            return margin == GroupingMargin.Cautious
                ? $"Cautious: {Of(cautious)} instead of {Of(standard)}: fewer, larger groups, so parts match the ratios less closely, but a copy the grouper doubts stays with its look-alikes, and originals showing the same cell are joined{stale}."
                : $"Standard: {Of(standard)}; cautious would give {Of(cautious)}. Standard agrees best with known originals but may cut an original in two (a leak the leak check then shows){stale}.";
        }
    }

    /// <summary>Ratios and seed mean something for random and grouped splits, and for a folders split only where a part is carved.</summary>
    private bool RatiosApply => strategy != SplitStrategy.Folders || carveMissing;

    private bool Busy => Jobs.Recent(subject: Dataset.Name).Any(j => j.Kind is JobKind.Grouping or JobKind.Split && !j.Finished);

    private int? loadedFor;

    // Parameters, not initialisation: following a link from one dataset's page to another's (a version, its parent)
    // reuses this component with a new dataset.
    protected override async Task OnParametersSetAsync()
    {
        if (loadedFor == Dataset.Id) return;
        loadedFor = Dataset.Id;
        splits = await Splits.ListAsync(Dataset.Id);
        grouping = await Grouping.StateAsync(Dataset.Id);
        if (Following) return;
        Follow<JobView>(Jobs.Subscribe, job => job.Subject == Dataset.Name);
        Follow<JobView>(Jobs.Subscribe, job => job.Subject == Dataset.Name && job.Finished, async () =>
        {
            splits = await Splits.ListAsync(Dataset.Id);
            grouping = await Grouping.StateAsync(Dataset.Id);
            await Changed.InvokeAsync();
        }, TimeSpan.FromSeconds(1));
    }

    private Task FindGroupsAsync() => Jobs.EnqueueOrSayWhyAsync(new GroupingJob(Dataset.Id, Dataset.Name), Snackbar);

    private async Task CreateSplitAsync()
    {
        formError = null;
        var ratios = new SplitRatios(train, val, test);
        try
        {
            ratios.Validate();
        }
        catch (ArgumentException ex)
        {
            formError = ex.Message;
            return;
        }
        bool carve = strategy == SplitStrategy.Folders && carveMissing;
        var request = new SplitRequest(Dataset.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), strategy, ratios, seed, name, carve,
            strategy == SplitStrategy.Random ? null : margin, KeepSuspectsTogether: keepTogether);
        await Jobs.EnqueueOrSayWhyAsync(new SplitJob(Dataset.Name, request), Snackbar);
    }

    private static string RatiosCell(SplitReport report) =>
        report.Strategy == SplitStrategy.Folders && report.CarvedFromTrain is not { Count: > 0 } ? report.RatiosText : $"{report.RatiosText} · {report.Seed}";

    private static string PartTooltip(SplitSummary split, string part)
    {
        var originals = split.Report.OriginalsPerPart?.GetValueOrDefault(part);
        var effective = split.Report.EffectiveOriginalsPerPart?.GetValueOrDefault(part);
        return string.Join(", ", split.Report.Parts[part].Select(c => originals is null || effective is null
                ? $"{c.Key} {c.Value:N0}"
                : $"{c.Key} {c.Value:N0} ({originals.GetValueOrDefault(c.Key):N0} originals, ~{effective.GetValueOrDefault(c.Key):0.0} effective)"))
            + $" · {split.Report.GroupsPerPart.GetValueOrDefault(part):N0} groups";
    }

    private static string ThinnestText(SplitReport report, (string Part, string ClassName, double Originals) thin)
    {
        int counted = report.OriginalsPerPart?.GetValueOrDefault(thin.Part)?.GetValueOrDefault(thin.ClassName) ?? 0;
        string part = thin.Part == SplitParts.Val ? "validation" : thin.Part;
        return FormattableString.Invariant($"{thin.ClassName.ToLowerInvariant()} in {part}: {counted} originals (≈{thin.Originals:0.0} effective)");
    }

    private static string NoOriginalsReason(SplitSummary split) => split.Report switch
    {
        { Groups: 0 } => "No source groups: every image counts as its own original.",
        { Leaky: true } => "Leaky split: the same originals sit in several parts, so a part has no originals of its own to count.",
        { OriginalsPerPart: not null } => "This split has no validation or test part.",
        _ => "Not recorded: this split was made before originals were counted; a split made now shows them.",
    };

}
