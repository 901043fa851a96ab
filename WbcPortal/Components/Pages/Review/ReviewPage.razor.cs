using System.Globalization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Server.ProtectedBrowserStorage;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.JSInterop;
using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Evaluation.Review;
using WbcPortal.Services.Review;

namespace WbcPortal.Components.Pages.Review;

/// <summary>
/// The review page: one evaluation's mistakes as tiles per original, walked with the keyboard, each settled by a
/// decision (relabel, exclude, model wrong) that is recorded with its reviewer. The query (evaluation, filter, pair,
/// sort, threshold) is in the address, so a refresh shows the same queue.
/// </summary>
public partial class ReviewPage : IAsyncDisposable
{
    public const string ReviewerKey = "wbc-reviewer";
    public const double DefaultThreshold = 0.6;

    [Inject] private ReviewService Review { get; set; } = default!;
    [Inject] private NavigationManager Navigation { get; set; } = default!;
    [Inject] private IJSRuntime JS { get; set; } = default!;
    [Inject] private ProtectedLocalStorage Local { get; set; } = default!;
    [Inject] private NeighbourService Neighbours { get; set; } = default!;
    [Inject] private NeighbourJobs NeighbourIndex { get; set; } = default!;
    [Inject] private WbcPortal.Services.Jobs.PortalJobs Jobs { get; set; } = default!;

    [SupplyParameterFromQuery(Name = "evaluation")] public int? Evaluation { get; set; }
    [SupplyParameterFromQuery(Name = "labelIssues")] public int? LabelIssues { get; set; }
    [SupplyParameterFromQuery(Name = "filter")] public string? FilterText { get; set; }
    [SupplyParameterFromQuery(Name = "pair")] public string? PairText { get; set; }
    [SupplyParameterFromQuery(Name = "sort")] public string? SortText { get; set; }
    [SupplyParameterFromQuery(Name = "threshold")] public double? Threshold { get; set; }
    [SupplyParameterFromQuery(Name = "undecided")] public bool? UndecidedOnly { get; set; }

    private IReadOnlyList<ReviewSource>? sources;
    private ReviewSession? session;
    private string? sessionKey;
    private bool notFound;
    private readonly ReviewWalk walk = new();
    private IReadOnlyList<LabelDecision> decisions = [];
    private string? reviewer;
    /// <summary>Signed in: every decision records the signed-in user, never a typed name.</summary>
    private bool reviewerSignedIn;
    [CascadingParameter] private Task<Microsoft.AspNetCore.Components.Authorization.AuthenticationState>? Authentication { get; set; }
    private string reviewerDraft = "";
    private bool reviewerLoaded;
    private string? note;
    private string? error;
    private string? lastDone;
    private bool busy;
    private bool showCopies = true;
    private bool showGradCam;
    private IReadOnlyList<NeighbourImage>? neighbours;
    private string? neighboursFor;
    private string? neighboursError;
    /// <summary>The run and image whose nearest images the reviewer asked for (shown once the run's index is ready).</summary>
    private (int Run, int Image)? neighboursWanted;
    private readonly CancellationTokenSource closing = new();
    private ElementReference grid;
    private IJSObjectReference? module;
    private bool reveal;

    private ReviewQuery Query => new(Filter, PairOf.Actual, PairOf.Predicted, EffectiveThreshold, Sort);

    private ReviewFilter Filter => FilterText switch
    {
        "pair" when PairOf.Actual >= 0 => ReviewFilter.Pair,
        "low" => ReviewFilter.LowConfidence,
        "all" => ReviewFilter.All,
        "issues" => ReviewFilter.LabelIssues,
        "mistakes" => ReviewFilter.Mistakes,
        _ => session?.Queue.HasLabelIssues == true ? ReviewFilter.LabelIssues : ReviewFilter.Mistakes,
    };

    private ReviewSort Sort => SortText switch
    {
        "least-confident" => ReviewSort.ConfidenceLow,
        "most-confident" => ReviewSort.ConfidenceHigh,
        _ => Filter == ReviewFilter.LowConfidence && SortText is null ? ReviewSort.ConfidenceLow : ReviewSort.Loss,
    };

    /// <summary>The low-confidence threshold: the address's, else the model's "Unidentified" threshold, else <see cref="DefaultThreshold"/>.</summary>
    private double EffectiveThreshold => Threshold is > 0 and <= 1 ? Threshold.Value : session?.Queue.RejectThreshold is > 0 and < 1 and var model ? model : DefaultThreshold;

    private (int Actual, int Predicted) PairOf
    {
        get
        {
            if (session is null || PairText is null) return (-1, -1);
            var parts = PairText.Split('-');
            int classes = session.Queue.Labels.Count;
            return parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int p) && a < classes && p < classes && a != p
                ? (a, p) : (-1, -1);
        }
    }

    private IReadOnlyList<string> Labels => session?.Queue.Labels ?? [];
    private bool CanDecide => session is { CanDecide: true } && !Review.ReadOnly && reviewer is not null;
    private string Abbrev(int label) => Labels[label].Length <= 3 ? Labels[label] : Labels[label][..3];

    protected override async Task OnParametersSetAsync()
    {
        // The run's index job on the board: its progress, its end, then the nearest images asked for.
        if (!Following) Follow<WbcPortal.Services.Jobs.JobView>(Jobs.Subscribe, j => neighboursWanted is { } w && NeighbourJobs.Concerns(j, w.Run), NeighbourIndexChangedAsync);
        sources ??= await Review.ListSourcesAsync();
        string? key = LabelIssues is { } l ? ReviewSource.LabelIssuesKey(l)
            : Evaluation is { } e ? ReviewSource.EvaluationKey(e)
            : ReviewSource.DefaultOf(sources)?.Key;
        if (key != sessionKey)
        {
            sessionKey = key;
            session = key is null ? null
                : key[0] == 'l' ? await Review.OpenLabelIssuesAsync(int.Parse(key[1..], CultureInfo.InvariantCulture))
                : await Review.OpenAsync(int.Parse(key[1..], CultureInfo.InvariantCulture));
            notFound = key is not null && session is null;
            decisions = session?.DatasetId is { } ds ? await Review.ListDecisionsAsync(ds) : [];
            error = null;
            lastDone = null;
        }
        Refresh();
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (firstRender && Authentication is not null && (await Authentication).User.Identity is { IsAuthenticated: true, Name: { } signedIn })
        {
            reviewer = signedIn;
            reviewerSignedIn = true;
            reviewerLoaded = true;
            StateHasChanged();
        }
        else if (firstRender)
        {
            try
            {
                var stored = await Local.GetAsync<string>(ReviewerKey);
                reviewer = stored.Success && !string.IsNullOrWhiteSpace(stored.Value) ? stored.Value : null;
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                // Kept under other keys (the portal's keys changed): ask again.
                await Local.DeleteAsync(ReviewerKey);
                reviewer = null;
            }
            reviewerLoaded = true;
            StateHasChanged();
        }
        if (module is null && session is not null && walk.Tiles.Count > 0)
        {
            module = await JS.InvokeAsync<IJSObjectReference>("import", "./review.js");
            await module.InvokeVoidAsync("attach", grid);
        }
        if (reveal && module is not null)
        {
            reveal = false;
            await module.InvokeVoidAsync("reveal", grid);
        }
    }

    private void Refresh()
    {
        if (session is null) return;
        var inForce = LabelDecision.InForce(decisions);
        walk.UpdateDecisions(inForce);
        var tiles = session.Queue.Select(Query);
        if (UndecidedOnly == true) tiles = tiles.Where(t => !walk.IsSettled(t)).ToList();
        walk.Show(tiles, inForce);
    }

    private void Go(string? filter = null, string? pair = null, string? sort = null, double? threshold = null, bool? undecided = null, bool clearPair = false)
    {
        var uri = Navigation.GetUriWithQueryParameters(new Dictionary<string, object?>
        {
            ["evaluation"] = session?.Source.EvaluationId,
            ["labelIssues"] = session?.Source.LabelIssueRunId,
            ["filter"] = filter ?? FilterText,
            ["pair"] = clearPair ? null : pair ?? PairText,
            ["sort"] = sort ?? SortText,
            ["threshold"] = threshold ?? Threshold,
            ["undecided"] = (undecided ?? UndecidedOnly) == true ? true : null,
        });
        Navigation.NavigateTo(uri, replace: true);
    }

    private void ShowPair(int actual, int predicted) => Go(filter: "pair", pair: $"{actual}-{predicted}");
    private void ShowFilter(string filter) => Go(filter: filter, clearPair: true);
    private bool IsPairShown(int actual, int predicted) => Filter == ReviewFilter.Pair && PairOf == (actual, predicted);

    private void OnSourceChanged(string key) => Navigation.NavigateTo(Navigation.GetUriWithQueryParameters(new Dictionary<string, object?>
    {
        ["evaluation"] = key[0] == 'e' ? int.Parse(key[1..], CultureInfo.InvariantCulture) : null,
        ["labelIssues"] = key[0] == 'l' ? int.Parse(key[1..], CultureInfo.InvariantCulture) : null,
        ["filter"] = null, ["pair"] = null, ["sort"] = SortText, ["threshold"] = Threshold, ["undecided"] = UndecidedOnly == true ? true : null,
    }), replace: true);

    private async Task SaveReviewerAsync()
    {
        string name = reviewerDraft.Trim();
        if (name.Length == 0 || name.Length > LabelDecision.MaxReviewerLength)
        {
            error = $"A reviewer name is 1 to {LabelDecision.MaxReviewerLength} characters.";
            return;
        }
        reviewer = name;
        error = null;
        await Local.SetAsync(ReviewerKey, name);
        await FocusGridAsync();
    }

    private async Task ChangeReviewerAsync()
    {
        if (reviewerSignedIn) return;
        reviewerDraft = reviewer ?? "";
        reviewer = null;
        await Local.DeleteAsync(ReviewerKey);
    }

    private async Task SelectAsync(int index)
    {
        walk.Select(index);
        reveal = true;
        await FocusGridAsync();
    }

    private async Task ChooseCopyAsync(ReviewCopy copy)
    {
        walk.ChooseCopy(walk.Copy == copy ? null : copy);
        await FocusGridAsync();
    }

    private async Task FocusGridAsync()
    {
        if (module is not null) await module.InvokeVoidAsync("focus", grid);
    }

    private async Task OnKeyAsync(KeyboardEventArgs e)
    {
        if (session is null || e.CtrlKey || e.AltKey || e.MetaKey) return;
        switch (ReviewWalk.Read(e.Key, Labels.Count, out int classIndex))
        {
            case ReviewKeyAction.Next: walk.Move(1); reveal = true; break;
            case ReviewKeyAction.Previous: walk.Move(-1); reveal = true; break;
            case ReviewKeyAction.Relabel: await DecideAsync(DecisionKind.Relabel, classIndex); break;
            case ReviewKeyAction.Exclude: await DecideAsync(DecisionKind.Exclude); break;
            case ReviewKeyAction.ModelWrong: await DecideAsync(DecisionKind.ModelWrong); break;
            case ReviewKeyAction.Undo: await UndoAsync(); break;
            case ReviewKeyAction.ToggleCopies: showCopies = !showCopies; break;
            case ReviewKeyAction.WholeOriginal: walk.ChooseCopy(null); break;
            case ReviewKeyAction.GradCam: showGradCam = !showGradCam; break;
            case ReviewKeyAction.Neighbours:
                if (session.Source.RunId is { } run && walk.Selected is { } tile && int.TryParse((walk.Copy ?? tile.Shown).Key, out int image)) await ShowNeighboursAsync(run, image);
                break;
        }
    }

    private async Task DecideAsync(DecisionKind kind, int toClass = -1)
    {
        if (busy || session is null || walk.Selected is not { } tile) return;
        if (!session.CanDecide) { error = "This evaluation ran on a folder, not on a dataset: its images can be looked at, not decided on."; return; }
        if (Review.ReadOnly) { error = Review.ReadOnlyRefusal; return; }
        if (reviewer is null) { error = "Say who you are first (above): every decision records its reviewer."; return; }
        var copy = walk.Copy;
        var scope = copy is null && tile.IsOriginal ? DecisionScope.Original : DecisionScope.Image;
        var ids = (copy is null ? tile.Copies.Select(c => c.Key) : [copy.Key]).Select(k => int.Parse(k, CultureInfo.InvariantCulture)).ToList();
        busy = true;
        try
        {
            var decision = await Review.DecideAsync(new DecisionRequest(session.DatasetId!.Value, kind, scope, ids, tile.Group, Labels[tile.Label],
                kind == DecisionKind.Relabel ? Labels[toClass] : null, reviewer, note, session.Source.RunId, session.Source.EvaluationId));
            lastDone = $"{decision.Describe()} on {decision.ImageIds.Count:N0} image{(decision.ImageIds.Count == 1 ? "" : "s")}{(scope == DecisionScope.Original ? " (the whole original)" : "")}";
            error = null;
            note = null;
            decisions = await Review.ListDecisionsAsync(session.DatasetId!.Value);
            bool advance = copy is null;
            if (UndecidedOnly == true) Refresh();
            else
            {
                walk.UpdateDecisions(LabelDecision.InForce(decisions));
                if (advance) walk.Move(1);
            }
            reveal = true;
        }
        catch (ArgumentException ex)
        {
            error = ex.Message;
        }
        catch (InvalidOperationException ex)
        {
            error = ex.Message;
        }
        finally
        {
            busy = false;
        }
    }

    private async Task UndoAsync()
    {
        if (busy || session?.DatasetId is not { } ds || reviewer is null || Review.ReadOnly) return;
        busy = true;
        try
        {
            var undone = await Review.UndoLastAsync(ds, reviewer);
            lastDone = undone is null ? "Nothing of yours to undo on this dataset." : $"Undone: {undone.Describe()} on {undone.ImageIds.Count:N0} image{(undone.ImageIds.Count == 1 ? "" : "s")}";
            decisions = await Review.ListDecisionsAsync(ds);
            Refresh();
            if (undone is not null)
            {
                int index = walk.Tiles.ToList().FindIndex(t => t.Copies.Any(c => undone.ImageIds.Contains(int.Parse(c.Key, CultureInfo.InvariantCulture))));
                if (index >= 0) walk.Select(index);
            }
            reveal = true;
        }
        catch (ArgumentException ex)
        {
            error = ex.Message;
        }
        finally
        {
            busy = false;
        }
    }

    /// <summary>
    /// The nearest training images of the shown image; when the run's index is missing, queues its job first (once per run,
    /// on the job system) and shows them when the job is done.
    /// </summary>
    private async Task ShowNeighboursAsync(int runId, int imageId)
    {
        neighboursError = null;
        neighboursWanted = (runId, imageId);
        if (NeighbourIndex.Status(runId).State != NeighbourIndexState.Ready)
        {
            try
            {
                if ((await NeighbourIndex.EnqueueBuildAsync(runId, closing.Token)).State != NeighbourIndexState.Ready) return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                neighboursWanted = null;
                neighboursError = $"The training images' features could not be computed: {WbcPortal.Services.UserFacingError.Describe(ex)}";
                return;
            }
        }
        await FindNeighboursAsync(runId, imageId);
    }

    private async Task NeighbourIndexChangedAsync()
    {
        if (neighboursWanted is { } w && neighboursFor != $"{w.Run}:{w.Image}" && NeighbourIndex.Status(w.Run).State == NeighbourIndexState.Ready)
            await FindNeighboursAsync(w.Run, w.Image);
    }

    private async Task FindNeighboursAsync(int runId, int imageId)
    {
        try
        {
            neighbours = await Neighbours.NearestAsync(runId, imageId, cancellationToken: closing.Token);
            neighboursFor = $"{runId}:{imageId}";
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
            // The page closed while searching.
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // A damaged index or image, a missing model: the reviewer reads why, the page goes on.
            neighboursError = ex.Message;
        }
    }

    private string? Thumb(ReviewCopy copy) => session!.Images.TryGetValue(copy.Key, out var info) ? info.ThumbnailUrl : null;
    private string? Full(ReviewCopy copy) => session!.Images.TryGetValue(copy.Key, out var info) ? info.FullUrl : null;
    private string PathOf(ReviewCopy copy) => session!.Images.TryGetValue(copy.Key, out var info) ? info.RelativePath ?? info.File ?? copy.Key : copy.Key;

    private string CalledText(ReviewTile tile) => string.Join(" · ", Enumerable.Range(0, Labels.Count).Where(k => tile.CalledAs[k] > 0)
        .OrderByDescending(k => tile.CalledAs[k]).Select(k => $"{Abbrev(k)} {tile.CalledAs[k]}"));

    private static string MistakesText(ReviewQueue q)
    {
        int tiles = q.Tiles.Count(t => t.Wrong > 0), images = q.Tiles.Sum(t => t.Wrong);
        string unit = q.ByOriginal ? (tiles == 1 ? "original" : "originals") : (tiles == 1 ? "image" : "images");
        return q.HasLabelIssues
            ? $"{tiles:N0} {unit} ({images:N0} image{(images == 1 ? "" : "s")}) called another class out of fold."
            : $"{tiles:N0} {unit} with mistakes ({images:N0} image{(images == 1 ? "" : "s")}).";
    }

    private string NeighbourSummary(IReadOnlyList<NeighbourImage> found, ReviewCopy shown)
    {
        var byClass = found.GroupBy(n => n.ClassName).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}");
        return $"Called {Labels[shown.Predicted]}; its nearest training images are {string.Join(", ", byClass)} (cosine similarity of the features the head reads).";
    }

    private static string Percent(double p) => (100 * p).ToString("0.#", CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        // Blazor calls only this of a component that has both: the live updates end here too.
        Dispose();
        await closing.CancelAsync();
        closing.Dispose();
        if (module is not null)
        {
            try { await module.DisposeAsync(); }
            catch (JSDisconnectedException) { }
        }
    }
}
