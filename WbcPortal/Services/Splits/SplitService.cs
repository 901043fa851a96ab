using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Grouping;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Splits;

public sealed record SplitSummary(int Id, string Name, int DatasetId, string Dataset, DateTimeOffset CreatedAt, SplitReport Report);

/// <param name="CarveMissing">Folders strategy: carve a part the dataset has no folder for from TRAIN by source group (otherwise refused).</param>
public sealed record SplitRequest(string Dataset, SplitStrategy Strategy, SplitRatios Ratios, int Seed, string? Name = null, bool CarveMissing = false);

/// <summary>Creates immutable, named split versions and reads them back.</summary>
public sealed class SplitService(IDbContextFactory<WbcDbContext> contexts, GroupingService grouping, DatasetSplitter splitter, Datasets.DatasetService datasets, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<SplitSummary> CreateAsync(SplitRequest request, IProgress<double>? groupingProgress = null, CancellationToken cancellationToken = default)
    {
        request.Ratios.Validate();
        var dataset = await datasets.GetAsync(request.Dataset, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (request.Strategy == SplitStrategy.Folders)
        {
            // Refuse a folders split the dataset's folders cannot give before spending a minute on source groups.
            var folders = await db.DatasetImages.Where(i => i.DatasetId == dataset.Id).Select(i => i.FolderPart).Distinct().ToListAsync(cancellationToken);
            DatasetSplitter.CheckFolders(folders, request.CarveMissing);
        }
        if (request.Strategy == SplitStrategy.Grouped || request.Strategy == SplitStrategy.Folders)
        {
            await grouping.EnsureGroupedAsync(dataset.Id, groupingProgress, cancellationToken);
        }

        bool grouped = await db.Datasets.Where(d => d.Id == dataset.Id).Select(d => d.GroupedAt != null).SingleAsync(cancellationToken);
        var images = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == dataset.Id)
            .Select(i => new { i.Id, i.ClassName, i.SourceGroup, i.FolderPart }).ToListAsync(cancellationToken);
        var items = images.Select(i => new SplitItem(i.Id, i.ClassName, grouped && i.SourceGroup is { } g ? g : -i.Id, i.FolderPart)).ToList();
        var pairs = await db.NearDuplicateEdges.AsNoTracking().Where(e => e.DatasetId == dataset.Id)
            .Select(e => new ValueTuple<int, int>(e.ImageA, e.ImageB)).ToListAsync(cancellationToken);

        var result = await Task.Run(() => splitter.Split(items, request.Strategy, request.Ratios, request.Seed, pairs, grouped, request.CarveMissing), cancellationToken);

        string name = request.Name?.Trim() is { Length: > 0 } given ? given : await DefaultNameAsync(db, dataset.Name, request, cancellationToken);
        if (name.Length > 200) throw new ArgumentException("A split name has at most 200 characters.");
        if (await db.Splits.AnyAsync(s => s.Name == name, cancellationToken)) throw new ArgumentException($"A split named '{name}' exists already; splits are immutable, pick another name.");

        var split = new Split
        {
            DatasetId = dataset.Id,
            Name = name,
            Strategy = request.Strategy.ToString().ToLowerInvariant(),
            Ratios = result.Report.Ratios ?? "", // none where the dataset's own folders made the parts
            Seed = request.Seed,
            CreatedAt = clock.GetUtcNow(),
            ReportJson = JsonSerializer.Serialize(result.Report, Json),
            Members = result.Assignments.Select(a => new SplitMember { DatasetImageId = a.Id, Part = a.Part }).ToList(),
        };
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        db.Splits.Add(split);
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        return new SplitSummary(split.Id, name, dataset.Id, dataset.Name, split.CreatedAt, result.Report);
    }

    private static async Task<string> DefaultNameAsync(WbcDbContext db, string dataset, SplitRequest request, CancellationToken cancellationToken)
    {
        string baseName = $"{dataset}-{request.Strategy.ToString().ToLowerInvariant()}{(request.CarveMissing ? "-carved" : "")}-s{request.Seed}";
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
        return SplitParts.All.ToDictionary(p => p, p => (IReadOnlyList<string>)rows.Where(r => r.Part == p).Select(r => r.RelativePath).Order(StringComparer.Ordinal).ToList());
    }

    private static SplitSummary ToSummary(Split s) =>
        new(s.Id, s.Name, s.DatasetId, s.Dataset?.Name ?? "", s.CreatedAt, JsonSerializer.Deserialize<SplitReport>(s.ReportJson, Json)!);
}
