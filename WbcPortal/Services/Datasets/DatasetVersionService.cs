using WbcPortal.Services.Accounts;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Review;
using WbcPortal.Services.Splits;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Datasets;

/// <summary>One image a version changed, as its page lists it: its id in the version (null when excluded) and in the parent.</summary>
public sealed record DatasetVersionChangeRow(int? ImageId, int ParentImageId, string Path, string Sha256, string FromClass, string? ToClass,
    long DecisionId, string Reviewer, DateTimeOffset At, string? Note)
{
    public bool Excluded => ToClass is null;
}

/// <summary>A split of the parent that a new version can carry over.</summary>
public sealed record VersionSplitChoice(int Id, string Name, DateTimeOffset CreatedAt);

/// <summary>What a new version of a dataset would change, before it is made; <see cref="Problem"/> says why it cannot be.</summary>
public sealed record DatasetVersionPreview(int DatasetId, string Dataset, int DecisionsInForce, int Relabelled, int Excluded, int ModelWrong,
    IReadOnlyDictionary<string, int> ClassesAfter, string? Problem, IReadOnlyList<VersionSplitChoice> Splits)
{
    /// <summary>A version already made from exactly the changes in force (another would be its twin), or null.</summary>
    public (int Id, string Name)? AlreadyMade { get; init; }
    public bool CanCreate => Problem is null && AlreadyMade is null;
}

/// <summary>A version just made.</summary>
public sealed record DatasetVersionResult(int DatasetId, string Name, int Version, int Images, int Relabelled, int Excluded, int? SplitId, string? SplitName)
{
    /// <summary>Why the carried split's leak check did not run to the end (the version and its split are stored all the same).</summary>
    public string? LeakCheckError { get; init; }
}

/// <summary>A dataset's place among versions: what it was made from and what it changed, and the versions made from it.</summary>
public sealed record DatasetVersionInfo(int Version, int? ParentId, string? ParentName, IReadOnlyList<DatasetVersionChangeRow> Changes,
    IReadOnlyList<(int Id, string Name, int Version)> Children);

/// <summary>
/// New dataset versions from review decisions. A version is a new, immutable dataset: its images are the parent's
/// (the same stored files, shared by content hash) under the decided classes, minus the excluded ones; its source groups
/// and near-duplicate edges are the parent's; one split of the parent is carried over with every image in the part it
/// had, so a run on the version compares fairly with a run on the parent. The parent, its splits and its runs are untouched.
/// </summary>
public sealed class DatasetVersionService(IDbContextFactory<WbcDbContext> contexts, ReviewService review, SplitService splits, TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public async Task<DatasetVersionPreview> PreviewAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var dataset = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken) ?? throw new ArgumentException($"No dataset {datasetId}.");
        var images = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).Select(i => new VersionSourceImage(i.Id, i.ClassName)).ToListAsync(cancellationToken);
        var decisions = await review.ListDecisionsAsync(datasetId, cancellationToken);
        var inForce = LabelDecision.InForce(decisions);
        var splitChoices = await CarriableSplitsAsync(db, datasetId, cancellationToken);
        int modelWrong = inForce.Values.Count(d => d.Kind == DecisionKind.ModelWrong);
        try
        {
            var plan = DatasetVersionPlan.From(images, decisions);
            var classes = plan.Kept.GroupBy(i => i.ClassName).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
            return new DatasetVersionPreview(datasetId, dataset.Name, LabelDecision.CountInForce(decisions), plan.Relabelled, plan.Excluded, modelWrong, classes, null, splitChoices)
            {
                AlreadyMade = await TwinAsync(db, datasetId, plan, cancellationToken),
            };
        }
        catch (ArgumentException ex)
        {
            return new DatasetVersionPreview(datasetId, dataset.Name, inForce.Values.Select(d => d.Id).Distinct().Count(), 0, 0, modelWrong, new Dictionary<string, int>(), ex.Message, splitChoices);
        }
    }

    /// <summary>
    /// Makes the version and carries <paramref name="splitId"/> (default: the parent's newest split that is not a
    /// cross-validation fold) over to it, then runs the leak check on the new split. Throws <see cref="ArgumentException"/>
    /// with the reason when no version can be made; nothing is stored then. The version and its split are stored in one
    /// transaction before the check; a check that fails leaves them stored and says why (<see cref="DatasetVersionResult.LeakCheckError"/>).
    /// </summary>
    [Demands(PortalAction.Relabel)]
    public async Task<DatasetVersionResult> CreateAsync(int datasetId, int? splitId = null, string? name = null, IProgress<double>? leakCheckProgress = null,
        CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Relabel);
        DatasetVersionResult result;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var parent = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken) ?? throw new ArgumentException($"No dataset {datasetId}.");
            var images = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id).ToListAsync(cancellationToken);
            var plan = DatasetVersionPlan.From(images.Select(i => new VersionSourceImage(i.Id, i.ClassName)).ToList(), await review.ListDecisionsAsync(datasetId, cancellationToken));

            Split? carried = null;
            if (splitId is { } sid)
            {
                carried = await db.Splits.AsNoTracking().SingleOrDefaultAsync(s => s.Id == sid, cancellationToken) ?? throw new ArgumentException($"No split {sid}.");
                if (carried.DatasetId != datasetId) throw new ArgumentException($"Split '{carried.Name}' is not a split of '{parent.Name}'.");
            }
            else if ((await CarriableSplitsAsync(db, datasetId, cancellationToken)).FirstOrDefault() is { } newest)
            {
                carried = await db.Splits.AsNoTracking().SingleAsync(s => s.Id == newest.Id, cancellationToken);
            }

            int version = parent.Version + 1;
            string versionName = name?.Trim() is { Length: > 0 } given ? DatasetService.ValidateName(given) : await FreeDatasetNameAsync(db, $"{RootName(parent)}-v{version}", cancellationToken);
            if (await db.Datasets.AnyAsync(d => d.Name == versionName, cancellationToken)) throw new ArgumentException($"A dataset named '{versionName}' exists already.");

            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            db.ChangeTracker.AutoDetectChangesEnabled = false;
            var now = clock.GetUtcNow();
            var byIdForGroups = images.ToDictionary(i => i.Id);
            var child = new Dataset
            {
                Name = versionName,
                CreatedAt = now,
                GroupedAt = parent.GroupedAt,
                // The originals it keeps: an excluded original is not one of them.
                GroupCount = plan.Kept.Select(k => byIdForGroups[k.Id].SourceGroup).Where(g => g is not null).Distinct().Count(),
                GrouperVersion = parent.GrouperVersion,
                GroupingMargin = parent.GroupingMargin,
                GroupingCutsJson = parent.GroupingCutsJson,
                ParentDatasetId = parent.Id,
                Version = version,
            };
            db.Datasets.Add(child);
            db.ChangeTracker.DetectChanges();
            await db.SaveChangesAsync(cancellationToken);

            var byId = images.ToDictionary(i => i.Id);
            var copies = new Dictionary<int, DatasetImage>();
            foreach (var kept in plan.Kept)
            {
                var source = byId[kept.Id];
                var copy = new DatasetImage
                {
                    DatasetId = child.Id, ClassName = kept.ClassName, RelativePath = source.RelativePath, FolderPart = source.FolderPart,
                    Sha256 = source.Sha256, SourceGroup = source.SourceGroup,
                };
                copies[kept.Id] = copy;
                db.DatasetImages.Add(copy);
            }
            db.ChangeTracker.DetectChanges();
            await db.SaveChangesAsync(cancellationToken);
            var newId = copies.ToDictionary(c => c.Key, c => c.Value.Id);

            var edges = await db.NearDuplicateEdges.AsNoTracking().Where(e => e.DatasetId == datasetId).ToListAsync(cancellationToken);
            foreach (var e in edges.Where(e => newId.ContainsKey(e.ImageA) && newId.ContainsKey(e.ImageB)))
                db.NearDuplicateEdges.Add(new NearDuplicateEdge { DatasetId = child.Id, ImageA = newId[e.ImageA], ImageB = newId[e.ImageB], Similarity = e.Similarity });

            var changes = plan.Changes.Select(c => new DatasetVersionChangeRow(newId.TryGetValue(c.ImageId, out int id) ? id : null, c.ImageId, byId[c.ImageId].RelativePath,
                byId[c.ImageId].Sha256, c.FromClass, c.ToClass, c.DecisionId, c.Reviewer, c.At, c.Note)).ToList();
            var childRow = await db.Datasets.SingleAsync(d => d.Id == child.Id, cancellationToken);
            childRow.ChangesJson = JsonSerializer.Serialize(changes);

            Split? newSplit = null;
            if (carried is not null)
            {
                var parts = await db.SplitMembers.AsNoTracking().Where(m => m.SplitId == carried.Id).ToDictionaryAsync(m => m.DatasetImageId, m => m.Part.Name(), cancellationToken);
                var members = parts.Where(p => newId.ContainsKey(p.Key)).ToDictionary(p => newId[p.Key], p => p.Value);
                var items = copies.Values.Where(c => members.ContainsKey(c.Id))
                    .Select(c => new SplitItem(c.Id, c.ClassName, child.GroupedAt is not null && c.SourceGroup is { } g ? g : -c.Id, c.FolderPart)).ToList();
                var pairs = edges.Where(e => newId.ContainsKey(e.ImageA) && newId.ContainsKey(e.ImageB)).Select(e => (newId[e.ImageA], newId[e.ImageB])).ToList();
                var ratios = RatiosOf(carried.Ratios, members);
                var report = DatasetSplitter.Describe(items, members, ratios, carried.Seed, pairs, grouped: child.GroupedAt is not null) with
                {
                    Note = $"carried over from split {carried.Name} of {parent.Name} to version {versionName}: every image keeps its part " +
                           $"({plan.Relabelled:N0} relabelled, {plan.Excluded:N0} excluded by review decisions)",
                };
                newSplit = new Split
                {
                    DatasetId = child.Id,
                    Name = await FreeSplitNameAsync(db, $"{carried.Name}-v{version}", cancellationToken),
                    Strategy = carried.Strategy,
                    Ratios = carried.Ratios,
                    Seed = carried.Seed,
                    CreatedAt = now,
                    ReportJson = SplitReports.Write(report),
                    Members = members.Select(m => new SplitMember { DatasetImageId = m.Key, Part = SplitParts.Parse(m.Value) }).ToList(),
                };
                db.Splits.Add(newSplit);
            }
            db.ChangeTracker.DetectChanges();
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            result = new DatasetVersionResult(child.Id, versionName, version, copies.Count, plan.Relabelled, plan.Excluded, newSplit?.Id, newSplit?.Name);
        }
        if (result.SplitId is { } made)
        {
            try
            {
                await splits.CheckLeaksAsync(made.ToString(CultureInfo.InvariantCulture), leakCheckProgress, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // The version is stored; its split is only unchecked, which its page says. Run the check again from there.
                return result with { LeakCheckError = ex.Message };
            }
        }
        await audit.RecordAsync(AuditAction.DatasetVersionCreated, $"dataset {datasetId}", name, cancellationToken: CancellationToken.None);
        return result;
    }

    /// <summary>A version of the dataset whose changes are exactly the plan's (same images, same outcome), or null.</summary>
    private static async Task<(int Id, string Name)?> TwinAsync(WbcDbContext db, int datasetId, DatasetVersionPlan plan, CancellationToken cancellationToken)
    {
        var wanted = plan.Changes.Select(c => (c.ImageId, c.ToClass)).ToHashSet();
        var children = await db.Datasets.AsNoTracking().Where(d => d.ParentDatasetId == datasetId && d.ChangesJson != null)
            .Select(d => new { d.Id, d.Name, d.ChangesJson }).ToListAsync(cancellationToken);
        foreach (var child in children)
        {
            var made = (JsonSerializer.Deserialize<List<DatasetVersionChangeRow>>(child.ChangesJson!) ?? []).Select(c => (c.ParentImageId, c.ToClass)).ToHashSet();
            if (made.SetEquals(wanted)) return (child.Id, child.Name);
        }
        return null;
    }

    public async Task<DatasetVersionInfo> GetInfoAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var d = await db.Datasets.AsNoTracking().Where(x => x.Id == datasetId).Select(x => new { x.Version, x.ParentDatasetId, x.ChangesJson }).SingleOrDefaultAsync(cancellationToken)
                ?? throw new ArgumentException($"No dataset {datasetId}.");
        string? parentName = d.ParentDatasetId is { } p ? await db.Datasets.AsNoTracking().Where(x => x.Id == p).Select(x => x.Name).SingleOrDefaultAsync(cancellationToken) : null;
        var changes = d.ChangesJson is null ? [] : JsonSerializer.Deserialize<List<DatasetVersionChangeRow>>(d.ChangesJson) ?? [];
        var children = (await db.Datasets.AsNoTracking().Where(x => x.ParentDatasetId == datasetId).OrderBy(x => x.Id).Select(x => new { x.Id, x.Name, x.Version }).ToListAsync(cancellationToken))
            .Select(x => (x.Id, x.Name, x.Version)).ToList();
        return new DatasetVersionInfo(d.Version, d.ParentDatasetId, parentName, changes, children);
    }

    /// <summary>The parent's splits a version can carry over, newest first: cross-validation fold splits are left out (they are made per CV).</summary>
    private static async Task<List<VersionSplitChoice>> CarriableSplitsAsync(WbcDbContext db, int datasetId, CancellationToken cancellationToken)
    {
        var folds = db.Runs.Where(r => r.CrossValidationId != null).Select(r => r.SplitId);
        return await db.Splits.AsNoTracking().Where(s => s.DatasetId == datasetId && !folds.Contains(s.Id))
            .OrderByDescending(s => s.CreatedAt).ThenByDescending(s => s.Id).Select(s => new VersionSplitChoice(s.Id, s.Name, s.CreatedAt)).ToListAsync(cancellationToken);
    }

    private static SplitRatios RatiosOf(string stored, IReadOnlyDictionary<int, string> members)
    {
        try
        {
            return SplitRatios.Parse(stored);
        }
        catch (ArgumentException)
        {
            // A folders split has no target ratios: its shares are what it holds.
            double total = Math.Max(1, members.Count);
            double Share(string part) => members.Values.Count(p => p == part) / total;
            return new SplitRatios(Share(SplitParts.Train), Share(SplitParts.Val), Share(SplitParts.Test));
        }
    }

    private static string RootName(Dataset dataset)
    {
        string suffix = $"-v{dataset.Version}";
        return dataset.Version > 1 && dataset.Name.EndsWith(suffix, StringComparison.Ordinal) ? dataset.Name[..^suffix.Length] : dataset.Name;
    }

    private static async Task<string> FreeDatasetNameAsync(WbcDbContext db, string name, CancellationToken cancellationToken)
    {
        string candidate = name;
        for (int n = 2; await db.Datasets.AnyAsync(d => d.Name == candidate, cancellationToken); n++) candidate = $"{name}-{n}";
        return candidate;
    }

    private static async Task<string> FreeSplitNameAsync(WbcDbContext db, string name, CancellationToken cancellationToken)
    {
        string candidate = name;
        for (int n = 2; await db.Splits.AnyAsync(s => s.Name == candidate, cancellationToken); n++) candidate = $"{name}-{n}";
        return candidate;
    }
}
