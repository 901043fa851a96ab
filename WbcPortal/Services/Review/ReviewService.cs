using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Accounts;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reports;
using WbcPortal.Engine.Evaluation.Review;
using WbcPortal.Options;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Review;

/// <summary>A stored model evaluation that can be reviewed, as the review page lists it.</summary>
/// <param name="IsFold">The run is a cross-validation fold: its test part is that fold's few held-out images.</param>
public sealed record ReviewableEvaluation(int EvaluationId, int RunId, string RunName, string Source, string Part, int Images, double Accuracy, DateTimeOffset? CreatedAt, bool IsFold = false)
{
    public string Title => $"{RunName} · {Source} · {Images:N0} images · {Accuracy * 100:0.0} %";
}

/// <summary>What a review queue was built from: a run's evaluation, or a label-issue search of a dataset.</summary>
/// <param name="Key">"e{evaluation id}" or "l{label-issue search id}", as the page's selector and address use it.</param>
/// <param name="What">"split NAME / test", "folder PATH", or the search's description.</param>
/// <param name="Part">An evaluation's part ("test", "val", "folder"...); null for a label-issue search.</param>
/// <param name="IsFold">The evaluation is of a cross-validation fold's run.</param>
public sealed record ReviewSource(string Key, string Title, string What, int? RunId, string? RunName, int? EvaluationId, int? LabelIssueRunId, string? Part = null, bool IsFold = false)
{
    public static string EvaluationKey(int id) => $"e{id}";
    public static string LabelIssuesKey(int id) => $"l{id}";

    /// <summary>
    /// What the review page opens when its address names nothing (from the menu), in <paramref name="sources"/> order
    /// (newest run first): the newest plain run's test part, the hold-out a lab reviews; a fold's test part only when no
    /// plain run has one (it is a few images of one fold); then anything.
    /// </summary>
    public static ReviewSource? DefaultOf(IReadOnlyList<ReviewSource> sources) =>
        sources.FirstOrDefault(s => s.Part == "test" && !s.IsFold) ?? sources.FirstOrDefault(s => s.Part == "test") ?? sources.FirstOrDefault();
}

/// <summary>Where an evaluated image comes from: its dataset image (split evaluations) or its file (folder evaluations).</summary>
/// <param name="ThumbnailUrl">Its thumbnail (<see cref="EvaluatedImageUrls"/>); null when no picture is stored.</param>
public sealed record ReviewImageInfo(string Key, int? DatasetImageId, string? Sha256, string? File, string? RelativePath, string? ThumbnailUrl = null, string? FullUrl = null);

/// <summary>One evaluation opened for review: the engine's queue, where each image is, and the decisions in force on its dataset.</summary>
public sealed record ReviewSession(
    ReviewSource Source,
    ReviewQueue Queue,
    IReadOnlyDictionary<string, ReviewImageInfo> Images,
    int? DatasetId,
    string? DatasetName,
    IReadOnlyList<string> DatasetClasses)
{
    /// <summary>Decisions are taken on dataset images: a folder evaluation can be looked at, not decided on.</summary>
    public bool CanDecide => DatasetId is not null;
}

/// <summary>A reviewer's decision on a tile or one of its copies, before it is stored.</summary>
/// <param name="ImageIds">For an image, that image; for an original, the evaluated copies (the decision covers every
/// image of the original in the dataset, also those outside the evaluation).</param>
public sealed record DecisionRequest(int DatasetId, DecisionKind Kind, DecisionScope Scope, IReadOnlyList<int> ImageIds, int? SourceGroup,
    string FromClass, string? ToClass, string Reviewer, string? Note = null, int? RunId = null, int? EvaluationId = null);

/// <summary>
/// The review loop's data: which evaluations can be reviewed, one opened as a <see cref="ReviewQueue"/>, and the
/// reviewers' label decisions (taken, undone, listed, exported). Decisions never change a dataset: the next dataset
/// version is made from them.
/// </summary>
public sealed class ReviewService(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage, LabelIssueService labelIssues, TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public bool ReadOnly => storage.ReadOnly;

    /// <summary>Why a decision is refused on a read-only portal.</summary>
    public string ReadOnlyRefusal => storage.ReadOnlyRefusal("decisions are taken on the portal that holds the data folder");

    /// <summary>Every model evaluation with predictions, newest run first, its test part before the others.</summary>
    public async Task<IReadOnlyList<ReviewableEvaluation>> ListEvaluationsAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.RunEvaluations.AsNoTracking()
            .Where(e => e.Stage == TrainingStage.Model && e.ReportJson != null)
            .Join(db.Runs, e => e.RunId, r => r.Id, (e, r) => new { e.Id, e.RunId, r.Name, e.SourceKind, e.SourceName, e.SourcePart, e.SourceFlips, e.Part, Images = e.Predictions.Count, e.Accuracy, e.CreatedAt, IsFold = r.CrossValidationId != null })
            .ToListAsync(cancellationToken);
        return rows.Where(r => r.Images > 0)
            .OrderByDescending(r => r.RunId).ThenBy(r => r.Part == SplitPart.Test ? 0 : r.Part == SplitPart.Validation ? 1 : 2).ThenBy(r => r.Id)
            .Select(r => new ReviewableEvaluation(r.Id, r.RunId, r.Name, RunEvaluationQueries.Title(r.SourceKind, r.SourceName, r.SourcePart, r.SourceFlips, r.Part), RunEvaluationQueries.PartName(r.Part), r.Images, r.Accuracy, r.CreatedAt, r.IsFold)).ToList();
    }

    /// <summary>Everything that opens as a review queue: model evaluations (newest run first), then label-issue searches (newest first).</summary>
    public async Task<IReadOnlyList<ReviewSource>> ListSourcesAsync(CancellationToken cancellationToken = default)
    {
        var evaluations = await ListEvaluationsAsync(cancellationToken);
        var searches = await labelIssues.ListAsync(null, cancellationToken);
        return evaluations.Select(e => new ReviewSource(ReviewSource.EvaluationKey(e.EvaluationId), e.Title, e.Source, e.RunId, e.RunName, e.EvaluationId, null, e.Part, e.IsFold))
            .Concat(searches.Select(l => new ReviewSource(ReviewSource.LabelIssuesKey(l.Id), LabelIssuesTitle(l), LabelIssuesWhat(l), null, null, null, l.Id)))
            .ToList();
    }

    private static string LabelIssuesTitle(LabelIssueRunSummary l) => $"Label issues in {l.Dataset} · search {l.Id} · {l.Headline}";
    private static string LabelIssuesWhat(LabelIssueRunSummary l) => l.Mode == LabelIssueService.CrossValidationMode
        ? $"label-issue search {l.Id} of {l.Dataset} (out-of-fold probabilities of a {l.Folds}-fold cross-validation's fine-tuned models)"
        : $"label-issue search {l.Id} of {l.Dataset} ({l.Folds} group folds, out-of-fold probabilities of a frozen-feature head)";

    /// <summary>
    /// A label-issue search as a review queue: each image's out-of-fold probabilities are its "prediction", and the images
    /// confident learning flagged carry the flag (the "Label issues" filter). Null for an unknown search.
    /// </summary>
    public async Task<ReviewSession?> OpenLabelIssuesAsync(int searchId, CancellationToken cancellationToken = default)
    {
        if (await labelIssues.GetAsync(searchId, cancellationToken) is not { } found) return null;
        var (summary, result) = found;
        var report = result.Report;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == summary.DatasetId)
            .Select(i => new { i.Id, i.Sha256, i.RelativePath, i.SourceGroup }).ToDictionaryAsync(i => i.Id, cancellationToken);
        var images = new List<ReviewImage>(report.Images.Count);
        var infos = new Dictionary<string, ReviewImageInfo>(StringComparer.Ordinal);
        foreach (var i in report.Images)
        {
            if (!rows.TryGetValue(i.Id, out var row)) continue; // an image deleted since the search
            string key = i.Id.ToString(CultureInfo.InvariantCulture);
            // The dataset's groups now, not at the search: a decision on an original covers its current copies.
            images.Add(new ReviewImage(key, row.SourceGroup, i.Label, i.Probabilities.Select(p => (float)Math.Log(Math.Max(p, 1e-9))).ToArray(), i.Issue));
            infos[key] = new ReviewImageInfo(key, i.Id, row.Sha256, null, row.RelativePath, $"api/images/{row.Sha256}/thumb", $"api/images/{row.Sha256}");
        }
        var queue = ReviewQueue.Build(report.Labels, images, 1);
        var classes = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == summary.DatasetId).Select(i => i.ClassName).Distinct().OrderBy(c => c).ToListAsync(cancellationToken);
        var source = new ReviewSource(ReviewSource.LabelIssuesKey(summary.Id), LabelIssuesTitle(summary), LabelIssuesWhat(summary), null, null, null, summary.Id);
        return new ReviewSession(source, queue, infos, summary.DatasetId, summary.Dataset, classes);
    }

    /// <summary>The evaluation as a review queue, or null when there is no such model evaluation.</summary>
    public async Task<ReviewSession?> OpenAsync(int evaluationId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var evaluation = await db.RunEvaluations.AsNoTracking()
            .Where(e => e.Id == evaluationId && e.Stage == TrainingStage.Model && e.ReportJson != null)
            .Join(db.Runs, e => e.RunId, r => r.Id, (e, r) => new { e.Id, e.RunId, r.Name, e.SourceKind, e.SourceName, e.SourcePart, e.SourceFlips, e.Part, e.Accuracy, e.CreatedAt, e.ReportJson, IsFold = r.CrossValidationId != null })
            .SingleOrDefaultAsync(cancellationToken);
        if (evaluation is null) return null;
        var report = JsonSerializer.Deserialize<EvaluationReport>(evaluation.ReportJson!, EvaluationService.Json) ?? throw new InvalidDataException("Empty evaluation report.");

        var predictions = await db.RunPredictions.AsNoTracking().Where(p => p.EvaluationId == evaluationId)
            .Select(p => new { p.Id, p.DatasetImageId, p.Sha256, p.File, p.Original, p.Label, p.LogitsJson }).ToListAsync(cancellationToken);
        var imageIds = predictions.Where(p => p.DatasetImageId is not null).Select(p => p.DatasetImageId!.Value).Distinct().ToList();
        var datasetImages = new Dictionary<int, (int DatasetId, int? Group, string Path)>();
        foreach (var chunk in imageIds.Chunk(2000))
        {
            var rows = await db.DatasetImages.AsNoTracking().Where(i => chunk.Contains(i.Id))
                .Select(i => new { i.Id, i.DatasetId, i.SourceGroup, i.RelativePath }).ToListAsync(cancellationToken);
            foreach (var r in rows) datasetImages[r.Id] = (r.DatasetId, r.SourceGroup, r.RelativePath);
        }

        var images = new List<ReviewImage>(predictions.Count);
        var infos = new Dictionary<string, ReviewImageInfo>(StringComparer.Ordinal);
        foreach (var p in predictions)
        {
            string key = p.DatasetImageId is { } id ? id.ToString(CultureInfo.InvariantCulture) : $"p{p.Id}";
            var known = p.DatasetImageId is { } di && datasetImages.TryGetValue(di, out var found) ? found : ((int, int?, string)?)null;
            // A dataset image's group now (a decision on an original covers its current copies); a folder image's as the evaluation found it.
            images.Add(new ReviewImage(key, known is { } k ? k.Item2 : p.Original, p.Label, JsonSerializer.Deserialize<float[]>(p.LogitsJson) ?? []));
            infos[key] = new ReviewImageInfo(key, p.DatasetImageId, p.Sha256, p.File, known?.Item3 ?? p.File,
                EvaluatedImageUrls.Thumbnail(evaluation.RunId, p.DatasetImageId, p.Sha256), EvaluatedImageUrls.Full(evaluation.RunId, p.DatasetImageId, p.Sha256));
        }
        var queue = ReviewQueue.Build(report.Labels, images, report.Temperature, report.Coverage?.Threshold ?? 0);

        var datasetIds = datasetImages.Values.Select(v => v.DatasetId).Distinct().ToList();
        int? datasetId = datasetIds.Count == 1 ? datasetIds[0] : null;
        string? datasetName = null;
        IReadOnlyList<string> classes = [];
        if (datasetId is { } ds)
        {
            datasetName = await db.Datasets.AsNoTracking().Where(d => d.Id == ds).Select(d => d.Name).SingleAsync(cancellationToken);
            classes = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == ds).Select(i => i.ClassName).Distinct().OrderBy(c => c).ToListAsync(cancellationToken);
        }
        var summary = new ReviewableEvaluation(evaluation.Id, evaluation.RunId, evaluation.Name, RunEvaluationQueries.Title(evaluation.SourceKind, evaluation.SourceName, evaluation.SourcePart, evaluation.SourceFlips, evaluation.Part), RunEvaluationQueries.PartName(evaluation.Part), predictions.Count, evaluation.Accuracy, evaluation.CreatedAt, evaluation.IsFold);
        var source = new ReviewSource(ReviewSource.EvaluationKey(summary.EvaluationId), summary.Title, summary.Source, summary.RunId, summary.RunName, summary.EvaluationId, null, summary.Part, summary.IsFold);
        return new ReviewSession(source, queue, infos, datasetId, datasetName, classes);
    }

    /// <summary>
    /// Stores a decision. On an original it covers every image of that source group and class in the dataset. Throws
    /// <see cref="ArgumentException"/> with a reviewer-facing message for a decision that cannot be taken, and
    /// <see cref="InvalidOperationException"/> on a read-only portal.
    /// </summary>
    [Demands(PortalAction.Review)]
    public async Task<LabelDecision> DecideAsync(DecisionRequest request, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.Review);
        // A signed-in reviewer is recorded as themselves, whatever name the request carries.
        if (actor.UserName is { } signedIn) request = request with { Reviewer = signedIn };
        ArgumentNullException.ThrowIfNull(request);
        if (ReadOnly) throw new InvalidOperationException(ReadOnlyRefusal);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var classes = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == request.DatasetId).Select(i => i.ClassName).Distinct().ToListAsync(cancellationToken);
        if (classes.Count == 0) throw new ArgumentException($"There is no dataset {request.DatasetId} with images.");
        LabelDecision.Validate(request.Kind, request.ImageIds, request.FromClass, request.ToClass, request.Reviewer, request.Note, classes);

        var given = request.ImageIds.Distinct().ToList();
        var found = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == request.DatasetId && given.Contains(i.Id))
            .Select(i => new { i.Id, i.ClassName, i.SourceGroup }).ToListAsync(cancellationToken);
        if (found.Count != given.Count) throw new ArgumentException("Some of the images are not in the dataset: reload the review.");
        if (found.Any(i => i.ClassName != request.FromClass)) throw new ArgumentException($"Not every image is labelled {request.FromClass}: reload the review.");

        List<int> covered = given;
        int? group = null;
        if (request.Scope == DecisionScope.Original)
        {
            group = request.SourceGroup ?? throw new ArgumentException("A decision on an original needs its source group.");
            if (found.Any(i => i.SourceGroup != group)) throw new ArgumentException("The images are no longer one original (the dataset was grouped again): reload the review.");
            covered = await db.DatasetImages.AsNoTracking()
                .Where(i => i.DatasetId == request.DatasetId && i.SourceGroup == group && i.ClassName == request.FromClass)
                .OrderBy(i => i.Id).Select(i => i.Id).ToListAsync(cancellationToken);
        }
        covered.Sort();

        var row = new ReviewDecision
        {
            DatasetId = request.DatasetId,
            Kind = request.Kind,
            Scope = request.Scope,
            SourceGroup = group,
            ImageIdsJson = JsonSerializer.Serialize(covered),
            Images = covered.Count,
            FromClass = request.FromClass,
            ToClass = request.ToClass,
            Reviewer = request.Reviewer.Trim(),
            Note = string.IsNullOrWhiteSpace(request.Note) ? null : request.Note.Trim(),
            CreatedAt = clock.GetUtcNow(),
            RunId = request.RunId,
            EvaluationId = request.EvaluationId,
        };
        db.ReviewDecisions.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.ReviewDecided, $"dataset {request.DatasetId}", null, cancellationToken: CancellationToken.None);
        return ToDecision(row);
    }

    /// <summary>Takes back the reviewer's latest decision in force on the dataset; null when there is none.</summary>
    [Demands(PortalAction.Review)]
    public async Task<LabelDecision?> UndoLastAsync(int datasetId, string reviewer, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.Review);
        if (actor.UserName is { } signedIn) reviewer = signedIn;
        if (ReadOnly) throw new InvalidOperationException(ReadOnlyRefusal);
        if (string.IsNullOrWhiteSpace(reviewer)) throw new ArgumentException("Say who reviews: only your own decisions are undone.");
        string name = reviewer.Trim();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var last = await db.ReviewDecisions.Where(d => d.DatasetId == datasetId && d.Reviewer == name && d.UndoneAt == null)
            .OrderByDescending(d => d.CreatedAt).ThenByDescending(d => d.Id).FirstOrDefaultAsync(cancellationToken);
        if (last is null) return null;
        last.UndoneAt = clock.GetUtcNow();
        last.UndoneBy = name;
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.ReviewUndone, $"dataset {datasetId}", null, cancellationToken: CancellationToken.None);
        return ToDecision(last);
    }

    /// <summary>Every decision on the dataset, undone ones too, oldest first.</summary>
    public async Task<IReadOnlyList<LabelDecision>> ListDecisionsAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.ReviewDecisions.AsNoTracking().Where(d => d.DatasetId == datasetId).OrderBy(d => d.CreatedAt).ThenBy(d => d.Id).ToListAsync(cancellationToken);
        return rows.Select(ToDecision).ToList();
    }

    /// <summary>The dataset's decisions as CSV (one row per decision, undone ones marked), or null for an unknown dataset.</summary>
    public async Task<(string DatasetName, string Csv)?> DecisionsCsvAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var name = await db.Datasets.AsNoTracking().Where(d => d.Id == datasetId).Select(d => d.Name).SingleOrDefaultAsync(cancellationToken);
        if (name is null) return null;
        var rows = await db.ReviewDecisions.AsNoTracking().Where(d => d.DatasetId == datasetId).OrderBy(d => d.CreatedAt).ThenBy(d => d.Id).ToListAsync(cancellationToken);
        var ids = rows.SelectMany(r => JsonSerializer.Deserialize<int[]>(r.ImageIdsJson) ?? []).Distinct().ToList();
        var paths = new Dictionary<int, string>();
        foreach (var chunk in ids.Chunk(2000))
            foreach (var i in await db.DatasetImages.AsNoTracking().Where(i => chunk.Contains(i.Id)).Select(i => new { i.Id, i.RelativePath }).ToListAsync(cancellationToken))
                paths[i.Id] = i.RelativePath;

        var csv = new StringBuilder();
        csv.AppendLine("id,at_utc,reviewer,decision,scope,from,to,images,source_group,note,run,evaluation,undone_at_utc,undone_by,paths");
        foreach (var r in rows)
        {
            var imageIds = JsonSerializer.Deserialize<int[]>(r.ImageIdsJson) ?? [];
            string[] cells =
            [
                r.Id.ToString(CultureInfo.InvariantCulture), r.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                r.Reviewer, Kebab(r.Kind), r.Scope.ToString().ToLowerInvariant(), r.FromClass, r.ToClass ?? "", r.Images.ToString(CultureInfo.InvariantCulture),
                r.SourceGroup?.ToString(CultureInfo.InvariantCulture) ?? "", r.Note ?? "", r.RunId?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.EvaluationId?.ToString(CultureInfo.InvariantCulture) ?? "", r.UndoneAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "",
                r.UndoneBy ?? "", string.Join(';', imageIds.Select(id => paths.GetValueOrDefault(id, $"#{id}"))),
            ];
            csv.AppendLine(string.Join(',', cells.Select(ReportCsv.Escape)));
        }
        return (name, csv.ToString());
    }

    /// <summary>The CSV's and the page's word for a decision kind.</summary>
    public static string Kebab(DecisionKind kind) => kind switch
    {
        DecisionKind.Relabel => "relabel",
        DecisionKind.Exclude => "exclude",
        _ => "model-wrong",
    };

    private static LabelDecision ToDecision(ReviewDecision r) => new()
    {
        Id = r.Id,
        Kind = r.Kind,
        Scope = r.Scope,
        ImageIds = JsonSerializer.Deserialize<int[]>(r.ImageIdsJson) ?? [],
        FromClass = r.FromClass,
        ToClass = r.ToClass,
        Reviewer = r.Reviewer,
        Note = r.Note,
        At = r.CreatedAt,
        UndoneAt = r.UndoneAt,
    };
}
