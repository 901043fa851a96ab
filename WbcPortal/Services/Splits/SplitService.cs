using WbcPortal.Services.Accounts;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Datasets.Splitting.LeakCheck;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Services.Grouping;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Splits;

public sealed record SplitSummary(int Id, string Name, int DatasetId, string Dataset, DateTimeOffset CreatedAt, SplitReport Report);

/// <param name="CarveMissing">Folders strategy: carve a part the dataset has no folder for from TRAIN by source group (otherwise refused).</param>
/// <param name="Margin">The grouping margin the groups are cut at (null: the configured default); the dataset is grouped again when its groups were cut at another.</param>
/// <param name="KeepSuspectsTogether">Grouped strategy: when the leak check finds suspect pairs across parts, join their source groups and
/// draw again (up to <see cref="SuspectPairJoiner.MaxRounds"/> times); the split stored is checked as it is.</param>
public sealed record SplitRequest(string Dataset, SplitStrategy Strategy, SplitRatios Ratios, int Seed, string? Name = null, bool CarveMissing = false,
    Engine.Datasets.Grouping.GroupingMargin? Margin = null, bool KeepSuspectsTogether = true);

/// <summary>A member of a split as its page shows it.</summary>
public sealed record SplitMemberImage(int Id, string Part, string ClassName, string RelativePath, string Sha256);

public sealed record SplitMemberPage(IReadOnlyList<SplitMemberImage> Items, int Total);

/// <summary>Creates immutable, named split versions, runs their independent leak check, and reads them back.</summary>
public sealed class SplitService(IDbContextFactory<WbcDbContext> contexts, GroupingService grouping, DatasetSplitter splitter, Datasets.DatasetService datasets, ImageStore store, TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    private readonly LeakChecker checker = new(LeakCheckOptions.Default);

    /// <param name="groupingProgress">Source grouping, when the strategy needs groups the dataset lacks.</param>
    /// <param name="leakCheckProgress">The independent leak check every new split gets before it is stored.</param>
    [Demands(PortalAction.PrepareDatasets)]
    public async Task<SplitSummary> CreateAsync(SplitRequest request, IProgress<double>? groupingProgress = null, CancellationToken cancellationToken = default,
        IProgress<double>? leakCheckProgress = null)
    {
        access.Demand(PortalAction.PrepareDatasets);
        request.Ratios.Validate();
        var dataset = await datasets.GetAsync(request.Dataset, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (request.Strategy == SplitStrategy.Folders)
        {
            // Refuse a folders split the dataset's folders cannot give before spending a minute on source groups.
            var folders = await db.DatasetImages.Where(i => i.DatasetId == dataset.Id).Select(i => i.FolderPart).Distinct().ToListAsync(cancellationToken);
            DatasetSplitter.CheckFolders(folders, request.CarveMissing);
        }
        GroupingState? groups = null;
        if (request.Strategy == SplitStrategy.Grouped || request.Strategy == SplitStrategy.Folders)
        {
            groups = await grouping.EnsureGroupedAsync(dataset.Id, groupingProgress, cancellationToken, request.Margin);
        }

        bool grouped = await db.Datasets.Where(d => d.Id == dataset.Id).Select(d => d.GroupedAt != null).SingleAsync(cancellationToken);
        var images = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == dataset.Id)
            .Select(i => new { i.Id, i.ClassName, i.SourceGroup, i.FolderPart }).ToListAsync(cancellationToken);
        var items = images.Select(i => new SplitItem(i.Id, i.ClassName, grouped && i.SourceGroup is { } g ? g : -i.Id, i.FolderPart)).ToList();
        var pairs = await db.NearDuplicateEdges.AsNoTracking().Where(e => e.DatasetId == dataset.Id)
            .Select(e => new ValueTuple<int, int>(e.ImageA, e.ImageB)).ToListAsync(cancellationToken);

        var result = await Task.Run(() => splitter.Split(items, request.Strategy, request.Ratios, request.Seed, pairs, grouped, request.CarveMissing), cancellationToken);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var inputs = await CheckInputsAsync(db, dataset.Id, cancellationToken);
        var signatures = await Task.Run(() => checker.Signatures(inputs, Scaled(leakCheckProgress, 0, 0.85), cancellationToken), cancellationToken);
        var found = await Task.Run(() => checker.Search(SuspectPairJoiner.WithParts(inputs, result), signatures, checker.Options.Threshold, null, cancellationToken), cancellationToken);
        SuspectsKeptTogether? keptTogether = null;
        if (request.KeepSuspectsTogether && request.Strategy == SplitStrategy.Grouped && grouped && found.Count > 0)
        {
            var joiner = new SuspectPairJoiner(splitter, checker);
            (result, found, keptTogether) = await Task.Run(() => joiner.KeepTogether(items, inputs, signatures, result, found,
                request.Ratios, request.Seed, pairs, cancellationToken), cancellationToken);
        }
        leakCheckProgress?.Report(1);
        var leakCheck = checker.Report(SuspectPairJoiner.WithParts(inputs, result), signatures, found, watch.Elapsed.TotalSeconds);
        var report = result.Report with
        {
            LeakCheck = leakCheck,
            SuspectsKeptTogether = keptTogether,
            GroupingMargin = groups?.Margin.ToString().ToLowerInvariant(),
            GrouperVersion = groups?.GrouperVersion,
            GroupingCuts = groups?.Cuts.Select(c => new SplitGroupingCut(c.Margin.ToString().ToLowerInvariant(), c.Groups, c.LargestGroup)).ToList(),
        };

        string name = request.Name?.Trim() is { Length: > 0 } given ? given : await DefaultNameAsync(db, dataset.Name, request, cancellationToken);
        if (name.Length > 200) throw new ArgumentException("A split name has at most 200 characters.");
        if (await db.Splits.AnyAsync(s => s.Name == name, cancellationToken)) throw new ArgumentException($"A split named '{name}' exists already; splits are immutable, pick another name.");

        var split = new Split
        {
            DatasetId = dataset.Id,
            Name = name,
            Strategy = request.Strategy,
            Ratios = report.Ratios ?? "", // none where the dataset's own folders made the parts
            Seed = request.Seed,
            CreatedAt = clock.GetUtcNow(),
            ReportJson = SplitReports.Write(report),
            Members = result.Assignments.Select(a => new SplitMember { DatasetImageId = a.Id, Part = SplitParts.Parse(a.Part) }).ToList(),
        };
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        db.Splits.Add(split);
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.SplitCreated, $"dataset '{request.Dataset}'", $"{request.Strategy}, seed {request.Seed}", cancellationToken: CancellationToken.None);
        return new SplitSummary(split.Id, name, dataset.Id, dataset.Name, split.CreatedAt, report);
    }

    /// <summary>
    /// Runs the independent leak check on an existing split (one made before the check existed, or again) and stores it in
    /// the split's report. The members never change: a split stays the same version.
    /// </summary>
    [Demands(PortalAction.PrepareDatasets)]
    public async Task<SplitSummary> CheckLeaksAsync(string idOrName, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.PrepareDatasets);
        var summary = await GetAsync(idOrName, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var parts = await db.SplitMembers.AsNoTracking().Where(m => m.SplitId == summary.Id).Select(m => new { m.DatasetImageId, m.Part }).ToListAsync(cancellationToken);
        var leakCheck = await CheckAsync(db, summary.DatasetId, parts.ToDictionary(m => m.DatasetImageId, m => m.Part.Name()), progress, cancellationToken);
        var report = summary.Report with { LeakCheck = leakCheck };
        string json = SplitReports.Write(report);
        await db.Splits.Where(s => s.Id == summary.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.ReportJson, json), cancellationToken);
        return summary with { Report = report };
    }

    private async Task<List<LeakCheckInput>> CheckInputsAsync(WbcDbContext db, int datasetId, CancellationToken cancellationToken)
    {
        var files = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id)
            .Select(i => new { i.Id, i.Sha256, i.Stored!.Format }).ToListAsync(cancellationToken);
        return files.Select(f => new LeakCheckInput(f.Id, "", store.ImagePath(f.Sha256, f.Format), f.Sha256)).ToList();
    }

    private static IProgress<double>? Scaled(IProgress<double>? progress, double from, double to) =>
        progress is null ? null : new ScaledProgress(progress, from, to);

    private sealed class ScaledProgress(IProgress<double> inner, double from, double to) : IProgress<double>
    {
        public void Report(double value) => inner.Report(from + (to - from) * value);
    }

    private async Task<LeakCheckReport> CheckAsync(WbcDbContext db, int datasetId, IReadOnlyDictionary<int, string> partOf, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        var inputs = (await CheckInputsAsync(db, datasetId, cancellationToken)).Where(i => partOf.ContainsKey(i.Id)).Select(i => i with { Part = partOf[i.Id] }).ToList();
        return await Task.Run(() => checker.Check(inputs, progress, cancellationToken), cancellationToken);
    }

    /// <summary>A page of a split's members in one part, optionally of one class, in path order.</summary>
    public async Task<SplitMemberPage> GetMemberPageAsync(int splitId, SplitPart part, string? className, int skip, int take, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = from m in db.SplitMembers.AsNoTracking()
                    join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                    where m.SplitId == splitId && m.Part == part && (className == null || i.ClassName == className)
                    select new { i.Id, m.Part, i.ClassName, i.RelativePath, i.Sha256 };
        int total = await query.CountAsync(cancellationToken);
        var rows = await query.OrderBy(x => x.RelativePath).Skip(Math.Max(0, skip)).Take(Math.Clamp(take, 1, 500)).ToListAsync(cancellationToken);
        return new SplitMemberPage(rows.Select(x => new SplitMemberImage(x.Id, x.Part.Name(), x.ClassName, x.RelativePath, x.Sha256)).ToList(), total);
    }

    /// <summary>Dataset images by id (the two sides of the leak check's suspect pairs), with their part in the split.</summary>
    public async Task<IReadOnlyDictionary<int, SplitMemberImage>> GetMemberImagesAsync(int splitId, IEnumerable<int> imageIds, CancellationToken cancellationToken = default)
    {
        var ids = imageIds.Distinct().ToList();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await (from m in db.SplitMembers.AsNoTracking()
                          join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                          where m.SplitId == splitId && ids.Contains(i.Id)
                          select new { i.Id, m.Part, i.ClassName, i.RelativePath, i.Sha256 }).ToListAsync(cancellationToken);
        return rows.ToDictionary(r => r.Id, r => new SplitMemberImage(r.Id, r.Part.Name(), r.ClassName, r.RelativePath, r.Sha256));
    }

    private static async Task<string> DefaultNameAsync(WbcDbContext db, string dataset, SplitRequest request, CancellationToken cancellationToken)
    {
        string baseName = $"{dataset}-{request.Strategy.Name()}{(request.CarveMissing ? "-carved" : "")}-s{request.Seed}";
        string name = baseName;
        for (int n = 2; await db.Splits.AnyAsync(s => s.Name == name, cancellationToken); n++) name = $"{baseName}-{n}";
        return name;
    }

    public async Task<IReadOnlyList<SplitSummary>> ListAsync(int? datasetId = null, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.Splits.AsNoTracking().Include(s => s.Dataset).AsQueryable();
        if (datasetId is { } id) query = query.Where(s => s.DatasetId == id);
        var splits = await query.OrderByDescending(s => s.Id).ToListAsync(cancellationToken);
        return splits.Select(ToSummary).ToList();
    }

    public async Task<SplitSummary> GetAsync(string idOrName, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var split = int.TryParse(idOrName, out var id)
            ? await db.Splits.AsNoTracking().Include(s => s.Dataset).SingleOrDefaultAsync(s => s.Id == id || s.Name == idOrName, cancellationToken)
            : await db.Splits.AsNoTracking().Include(s => s.Dataset).SingleOrDefaultAsync(s => s.Name == idOrName, cancellationToken);
        return split is null ? throw new ArgumentException($"No split '{idOrName}'.") : ToSummary(split);
    }

    /// <summary>The members of each part as relative paths.</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> GetMembersAsync(int splitId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await (from m in db.SplitMembers.AsNoTracking()
                          join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                          where m.SplitId == splitId
                          select new { m.Part, i.RelativePath }).ToListAsync(cancellationToken);
        return SplitParts.Values.ToDictionary(p => p.Name(), p => (IReadOnlyList<string>)rows.Where(r => r.Part == p).Select(r => r.RelativePath).Order(StringComparer.Ordinal).ToList());
    }

    private static SplitSummary ToSummary(Split s) =>
        new(s.Id, s.Name, s.DatasetId, s.Dataset?.Name ?? "", s.CreatedAt, SplitReports.Read(s.ReportJson));
}
