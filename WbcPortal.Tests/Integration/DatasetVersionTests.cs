using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Review;
using WbcPortal.Services.Splits;
using WbcPortal.Storage;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// A new dataset version from review decisions, over real services and SQLite: the decided classes, the excluded images
/// left out, the parent and its split untouched, the split carried over part for part and leak-checked, the changes listed.
/// </summary>
public sealed class DatasetVersionTests : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-version-data");
    private readonly TempDirectory source = new("wbc-version-src");
    private ServiceProvider services = default!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var random = new Random(3);
        // 4 originals per class, 3 augmented copies each.
        foreach (var (cls, offset) in new[] { ("EOSINOPHIL", 0), ("NEUTROPHIL", 10) })
        {
            Directory.CreateDirectory(Path.Combine(source.Path, cls));
            for (int o = 0; o < 4; o++)
            {
                using var original = LeakCheckerTests.Smear(seed: 700 + offset + o);
                for (int k = 0; k < 3; k++)
                {
                    using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                    await copy.SaveAsPngAsync(Path.Combine(source.Path, cls, $"o{o}_{k}.png"), ct);
                }
            }
        }
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        await services.GetRequiredService<DatasetService>().ImportFolderAsync("cells", source.Path, cancellationToken: ct);
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
        source.Dispose();
    }

    [Fact]
    public async Task A_version_applies_the_decisions_and_carries_the_split_over_with_the_parent_untouched()
    {
        var ct = TestContext.Current.CancellationToken;
        var splits = services.GetRequiredService<SplitService>();
        var split = await splits.CreateAsync(new SplitRequest("cells", SplitStrategy.Grouped, new SplitRatios(0.5, 0.25, 0.25), 4), cancellationToken: ct);
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        int datasetId = split.DatasetId;
        List<(int Id, string ClassName, int? Group, string Path)> images;
        await using (var db = await contexts.CreateDbContextAsync(ct))
            images = (await db.DatasetImages.Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id).Select(i => new { i.Id, i.ClassName, i.SourceGroup, i.RelativePath }).ToListAsync(ct))
                .Select(i => (i.Id, i.ClassName, i.SourceGroup, i.RelativePath)).ToList();
        var parentParts = await splits.GetMembersAsync(split.Id, ct);

        var versions = services.GetRequiredService<DatasetVersionService>();
        var empty = await versions.PreviewAsync(datasetId, ct);
        Assert.False(empty.CanCreate);
        Assert.Equal(0, empty.DecisionsInForce);
        await Assert.ThrowsAsync<ArgumentException>(() => versions.CreateAsync(datasetId, cancellationToken: ct));

        // Relabel the original of EOSINOPHIL/o1 (all its copies), exclude one NEUTROPHIL image, and settle one case as "model wrong".
        var review = services.GetRequiredService<ReviewService>();
        var o1 = images.First(i => i.Path == "EOSINOPHIL/o1_0.png");
        Assert.NotNull(o1.Group);
        int[] o1Ids = images.Where(i => i.Group == o1.Group && i.ClassName == "EOSINOPHIL").Select(i => i.Id).ToArray();
        await review.DecideAsync(new DecisionRequest(datasetId, DecisionKind.Relabel, DecisionScope.Original, [o1.Id], o1.Group, "EOSINOPHIL", "NEUTROPHIL", "ana", "segmented nucleus"), ct);
        var excluded = images.First(i => i.Path == "NEUTROPHIL/o2_1.png");
        await review.DecideAsync(new DecisionRequest(datasetId, DecisionKind.Exclude, DecisionScope.Image, [excluded.Id], excluded.Group, "NEUTROPHIL", null, "ana"), ct);
        var stands = images.First(i => i.Path == "EOSINOPHIL/o3_0.png");
        await review.DecideAsync(new DecisionRequest(datasetId, DecisionKind.ModelWrong, DecisionScope.Image, [stands.Id], stands.Group, "EOSINOPHIL", null, "ana"), ct);

        var preview = await versions.PreviewAsync(datasetId, ct);
        Assert.True(preview.CanCreate, preview.Problem);
        Assert.Equal((3, o1Ids.Length, 1, 1), (preview.DecisionsInForce, preview.Relabelled, preview.Excluded, preview.ModelWrong));
        Assert.Equal(split.Id, preview.Splits.First().Id);

        var made = await versions.CreateAsync(datasetId, cancellationToken: ct);
        Assert.Equal(("cells-v2", 2, 23, o1Ids.Length, 1, $"{split.Name}-v2"), (made.Name, made.Version, made.Images, made.Relabelled, made.Excluded, made.SplitName));

        // The version: decided classes, the excluded image gone, the same stored files, groups kept.
        var datasets = services.GetRequiredService<DatasetService>();
        var child = await datasets.GetAsync("cells-v2", ct);
        Assert.True(child.IsVersion);
        Assert.Equal(datasetId, child.ParentId);
        Assert.Equal(12 - o1Ids.Length, child.Classes["EOSINOPHIL"]);
        Assert.Equal(12 + o1Ids.Length - 1, child.Classes["NEUTROPHIL"]);
        await using (var db = await contexts.CreateDbContextAsync(ct))
        {
            var childImages = await db.DatasetImages.Where(i => i.DatasetId == made.DatasetId).ToListAsync(ct);
            Assert.DoesNotContain(childImages, i => i.RelativePath == excluded.Path);
            Assert.All(childImages.Where(i => o1Ids.Select(id => images.Single(x => x.Id == id).Path).Contains(i.RelativePath)), i => Assert.Equal("NEUTROPHIL", i.ClassName));
            Assert.Equal(images.Where(i => i.Path != excluded.Path).Select(i => i.Group).OrderBy(g => g), childImages.Select(i => i.SourceGroup).OrderBy(g => g));
            // Its source-group chip counts the originals it holds, as its images do.
            Assert.Equal(childImages.Select(i => i.SourceGroup).Distinct().Count(), child.Groups);
            Assert.Equal(child.Groups, (await datasets.ListAsync(ct)).Single(d => d.Name == "cells-v2").Groups);
            Assert.Equal(24, await db.DatasetImages.CountAsync(i => i.DatasetId == datasetId, ct));
            Assert.Equal(12, await db.DatasetImages.CountAsync(i => i.DatasetId == datasetId && i.ClassName == "EOSINOPHIL", ct));
        }
        Assert.Equal(parentParts.ToDictionary(p => p.Key, p => p.Value.Count), (await splits.GetMembersAsync(split.Id, ct)).ToDictionary(p => p.Key, p => p.Value.Count));

        // The carried split: every image in the part it had, checked for leaks.
        var carried = await splits.GetAsync(made.SplitName!, ct);
        Assert.Equal(made.DatasetId, carried.DatasetId);
        Assert.NotNull(carried.Report.LeakCheck);
        Assert.Contains("carried over from split", carried.Report.Note);
        var childParts = await splits.GetMembersAsync(carried.Id, ct);
        Assert.Equal(23, childParts.Values.Sum(v => v.Count));
        var parentPartOfPath = await PartsByPathAsync(split.Id, ct);
        var childPartOfPath = await PartsByPathAsync(carried.Id, ct);
        Assert.All(childPartOfPath, p => Assert.Equal(parentPartOfPath[p.Key], p.Value));

        // What changed is listed; the parent lists its version; a version takes no imports.
        var info = await versions.GetInfoAsync(made.DatasetId, ct);
        Assert.Equal(("cells", o1Ids.Length + 1), (info.ParentName, info.Changes.Count));
        Assert.Contains(info.Changes, c => c.Excluded && c.Path == excluded.Path && c.ImageId is null);
        Assert.Contains(info.Changes, c => c.ToClass == "NEUTROPHIL" && c.Note == "segmented nucleus" && c.Reviewer == "ana");
        Assert.Equal("cells-v2", Assert.Single((await versions.GetInfoAsync(datasetId, ct)).Children).Name);
        // The same decisions again would make a twin: the preview names the version that holds them.
        var again = await versions.PreviewAsync(datasetId, ct);
        Assert.False(again.CanCreate);
        Assert.Equal("cells-v2", again.AlreadyMade?.Name);
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => datasets.ImportFolderAsync("cells-v2", source.Path, cancellationToken: ct));
        Assert.Contains("immutable", refused.Message);
        // Nor are its groups found again: they are its parent's, which its carried split and its review rely on.
        var grouping = services.GetRequiredService<WbcPortal.Services.Grouping.GroupingService>();
        Assert.Contains("keeps the source groups", (await Assert.ThrowsAsync<ArgumentException>(() => grouping.GroupAsync(made.DatasetId, cancellationToken: ct))).Message);
        var kept = await grouping.EnsureGroupedAsync(made.DatasetId, cancellationToken: ct, margin: WbcPortal.Engine.Datasets.Grouping.GroupingMargin.Standard);
        Assert.NotNull(kept.GroupedAt);

        // Deleting the parent keeps the version whole (its files are shared by content).
        await datasets.DeleteAsync(datasetId, ct);
        var orphan = await datasets.GetAsync("cells-v2", ct);
        Assert.Null(orphan.ParentId);
        Assert.Equal(23, orphan.Images);
        await using (var db = await contexts.CreateDbContextAsync(ct))
            Assert.Equal(23, await db.StoredImages.CountAsync(ct)); // the excluded image's file was the parent's alone
    }

    [Fact]
    public void A_version_that_would_keep_one_class_is_refused()
    {
        var decision = new LabelDecision
        {
            Id = 1, Kind = DecisionKind.Relabel, Scope = DecisionScope.Image, ImageIds = [1], FromClass = "EOSINOPHIL", ToClass = "NEUTROPHIL", Reviewer = "ana", At = DateTimeOffset.UnixEpoch,
        };
        var ex = Assert.Throws<ArgumentException>(() => DatasetVersionPlan.From([new(1, "EOSINOPHIL"), new(2, "NEUTROPHIL")], [decision]));
        Assert.Contains("a single class", ex.Message);
        var stale = Assert.Throws<ArgumentException>(() => DatasetVersionPlan.From([new(1, "LYMPHOCYTE"), new(2, "NEUTROPHIL")], [decision]));
        Assert.Contains("changed under the decision", stale.Message);
    }

    private async Task<Dictionary<string, string>> PartsByPathAsync(int splitId, CancellationToken ct)
    {
        await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(ct);
        return await (from m in db.SplitMembers join i in db.DatasetImages on m.DatasetImageId equals i.Id where m.SplitId == splitId select new { i.RelativePath, m.Part })
            .ToDictionaryAsync(x => x.RelativePath, x => x.Part.Name(), ct);
    }
}
