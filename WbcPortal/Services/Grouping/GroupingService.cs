using WbcPortal.Services.Accounts;
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
/// <summary>A dataset's stored groups: when, by which grouper version, at which margin, and the groups each margin gives.</summary>
public sealed record GroupingState(DateTimeOffset? GroupedAt, int Groups, string? GrouperVersion, GroupingMargin Margin, IReadOnlyList<GroupingCutSummary> Cuts)
{
    /// <summary>Grouped by the grouper this build runs.</summary>
    public bool Current => GroupedAt is not null && GrouperVersion == SourceGrouper.Version;

    public GroupingCutSummary? CutAt(GroupingMargin margin) => Cuts.FirstOrDefault(c => c.Margin == margin);
}

public sealed class GroupingService(IDbContextFactory<WbcDbContext> contexts, ImageStore store, SourceGrouper grouper, TimeProvider clock, ILogger<GroupingService> logger, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public Task<GroupingSummary> GroupAsync(int datasetId, IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        GroupAsync(datasetId, grouper.Options.Margin, progress, cancellationToken);

    /// <summary>As above, with the groups cut at <paramref name="margin"/> (the summary reports both margins either way).</summary>
    [Demands(PortalAction.PrepareDatasets)]
    public async Task<GroupingSummary> GroupAsync(int datasetId, GroupingMargin margin, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.PrepareDatasets);
        var chosen = margin == grouper.Options.Margin ? grouper : new SourceGrouper(grouper.Options with { Margin = margin });
        var watch = Stopwatch.StartNew();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var dataset = await db.Datasets.SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken) ?? throw new ArgumentException($"No dataset {datasetId}.");
        if (dataset.Version > 1 && dataset.GroupedAt is not null)
            throw new ArgumentException($"'{dataset.Name}' is a dataset version: it keeps the source groups of the dataset it was made from, so its carried-over split and its review stay true. Group the parent instead.");
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
        dataset.GrouperVersion = SourceGrouper.Version;
        dataset.GroupingMargin = result.Margin.ToString();
        dataset.GroupingCutsJson = System.Text.Json.JsonSerializer.Serialize(result.Cuts, CutsJson);
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        var classOf = images.ToDictionary(i => i.Id, i => i.ClassName);
        var perClass = result.Groups
            .GroupBy(g => g.Keys.Select(k => classOf[int.Parse(k, System.Globalization.CultureInfo.InvariantCulture)]).GroupBy(c => c).OrderByDescending(c => c.Count()).First().Key)
            .OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        logger.LogInformation("Dataset {Dataset}: {Groups} source groups from {Images} images in {Seconds:F1} s", dataset.Name, result.Groups.Count, images.Count, watch.Elapsed.TotalSeconds);
        await audit.RecordAsync(AuditAction.GroupsFound, $"dataset {datasetId}", $"margin {margin}", cancellationToken: CancellationToken.None);
        return new GroupingSummary(datasetId, result.Groups.Count, perClass, result.Pairs.Count, watch.Elapsed.TotalSeconds)
        {
            Margin = result.Margin,
            Cuts = result.Cuts,
        };
    }

    private static readonly System.Text.Json.JsonSerializerOptions CutsJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>
    /// Groups the dataset unless its groups are current: found by this grouper version at <paramref name="margin"/> (null: the
    /// configured default). Groups of an older grouper, or cut at another margin, are found again.
    /// </summary>
    public async Task<GroupingState> EnsureGroupedAsync(int datasetId, IProgress<double>? progress = null, CancellationToken cancellationToken = default, GroupingMargin? margin = null)
    {
        var wanted = margin ?? grouper.Options.Margin;
        var state = await StateAsync(datasetId, cancellationToken);
        if (state is { Current: true } && state.Margin == wanted) return state;
        // A version keeps its parent's groups whatever grouper found them (see GroupAsync).
        if (state.GroupedAt is not null && await IsVersionAsync(datasetId, cancellationToken)) return state;
        await GroupAsync(datasetId, wanted, progress, cancellationToken);
        return await StateAsync(datasetId, cancellationToken);
    }

    private async Task<bool> IsVersionAsync(int datasetId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Datasets.AnyAsync(d => d.Id == datasetId && d.Version > 1, cancellationToken);
    }

    /// <summary>How the dataset's stored groups were found, and what each margin gives (null when never grouped).</summary>
    public async Task<GroupingState> StateAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var d = await db.Datasets.AsNoTracking().Where(x => x.Id == datasetId)
            .Select(x => new { x.GroupedAt, x.GroupCount, x.GrouperVersion, x.GroupingMargin, x.GroupingCutsJson }).SingleAsync(cancellationToken);
        var cuts = d.GroupingCutsJson is null ? [] : System.Text.Json.JsonSerializer.Deserialize<List<GroupingCutSummary>>(d.GroupingCutsJson, CutsJson) ?? [];
        return new GroupingState(d.GroupedAt, d.GroupCount, d.GrouperVersion, Enum.TryParse<GroupingMargin>(d.GroupingMargin, out var m) ? m : GroupingMargin.Standard, cuts);
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
