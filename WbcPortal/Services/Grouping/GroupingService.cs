using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Grouping;

public sealed record GroupingSummary(int DatasetId, int Groups, IReadOnlyDictionary<string, int> GroupsPerClass, int Pairs, double Seconds)
{
    /// <summary>The margin the recorded groups were cut with.</summary>
    public GroupingMargin Margin { get; init; }

    /// <summary>Groups and largest group at each margin (the cost of the cautious one), from the same descriptors.</summary>
    public IReadOnlyList<GroupingCutSummary> Cuts { get; init; } = [];

    /// <summary><see cref="SourceGrouper.Version"/> of the grouper that found them.</summary>
    public string GrouperVersion { get; init; } = SourceGrouper.Version;
}

/// <summary>Finds which images of a dataset are copies of one original and records the groups and near-duplicate edges.</summary>
public sealed class GroupingService(IDbContextFactory<WbcDbContext> contexts, ImageStore store, SourceGrouper grouper, TimeProvider clock, ILogger<GroupingService> logger)
{
    public Task<GroupingSummary> GroupAsync(int datasetId, IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        GroupAsync(datasetId, grouper.Options.Margin, progress, cancellationToken);

    /// <summary>As above, with the groups cut at <paramref name="margin"/> (the summary reports both margins either way).</summary>
    public async Task<GroupingSummary> GroupAsync(int datasetId, GroupingMargin margin, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        var chosen = margin == grouper.Options.Margin ? grouper : new SourceGrouper(grouper.Options with { Margin = margin });
        var watch = Stopwatch.StartNew();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var dataset = await db.Datasets.SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken) ?? throw new ArgumentException($"No dataset {datasetId}.");
        var images = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id)
            .Select(i => new { i.Id, i.ClassName, i.Sha256, i.Stored!.Format }).ToListAsync(cancellationToken);
        if (images.Count == 0) throw new ArgumentException($"Dataset '{dataset.Name}' has no images to group.");

        var inputs = images.Select(i => new GroupingInput(i.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), i.ClassName, store.ImagePath(i.Sha256, i.Format))).ToList();
        var result = await Task.Run(() => chosen.Group(inputs, progress, cancellationToken), cancellationToken);

        var groupOf = new Dictionary<int, int>();
        foreach (var group in result.Groups)
        {
            foreach (var key in group.Keys) groupOf[int.Parse(key, System.Globalization.CultureInfo.InvariantCulture)] = group.Id;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var batch in groupOf.GroupBy(kv => kv.Value))
        {
            var ids = batch.Select(kv => kv.Key).ToList();
            int groupId = batch.Key;
            await db.DatasetImages.Where(i => ids.Contains(i.Id)).ExecuteUpdateAsync(s => s.SetProperty(i => i.SourceGroup, groupId), cancellationToken);
        }
        await db.NearDuplicateEdges.Where(e => e.DatasetId == datasetId).ExecuteDeleteAsync(cancellationToken);
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        db.NearDuplicateEdges.AddRange(result.Pairs.Select(p => new NearDuplicateEdge
        {
            DatasetId = datasetId,
            ImageA = int.Parse(p.A, System.Globalization.CultureInfo.InvariantCulture),
            ImageB = int.Parse(p.B, System.Globalization.CultureInfo.InvariantCulture),
            Similarity = p.Similarity,
        }));
        dataset.GroupedAt = clock.GetUtcNow();
        dataset.GroupCount = result.Groups.Count;
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        var classOf = images.ToDictionary(i => i.Id, i => i.ClassName);
        var perClass = result.Groups
            .GroupBy(g => g.Keys.Select(k => classOf[int.Parse(k, System.Globalization.CultureInfo.InvariantCulture)]).GroupBy(c => c).OrderByDescending(c => c.Count()).First().Key)
            .OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        logger.LogInformation("Dataset {Dataset}: {Groups} source groups from {Images} images in {Seconds:F1} s", dataset.Name, result.Groups.Count, images.Count, watch.Elapsed.TotalSeconds);
        return new GroupingSummary(datasetId, result.Groups.Count, perClass, result.Pairs.Count, watch.Elapsed.TotalSeconds)
        {
            Margin = result.Margin,
            Cuts = result.Cuts,
        };
    }

    /// <summary>Groups the dataset unless its groups are current.</summary>
    public async Task EnsureGroupedAsync(int datasetId, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var groupedAt = await db.Datasets.Where(d => d.Id == datasetId).Select(d => d.GroupedAt).SingleAsync(cancellationToken);
        if (groupedAt is null) await GroupAsync(datasetId, progress, cancellationToken);
    }

    /// <summary>Each group's images (relative paths), in group order.</summary>
    public async Task<IReadOnlyList<(int Group, IReadOnlyList<string> Images)>> GetGroupsAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId && i.SourceGroup != null)
            .Select(i => new { Group = i.SourceGroup!.Value, i.RelativePath }).ToListAsync(cancellationToken);
        return rows.GroupBy(r => r.Group).OrderBy(g => g.Key)
            .Select(g => (g.Key, (IReadOnlyList<string>)g.Select(r => r.RelativePath).Order(StringComparer.Ordinal).ToList())).ToList();
    }
}
