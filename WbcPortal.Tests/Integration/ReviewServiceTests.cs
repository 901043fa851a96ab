using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Evaluation.Review;
using WbcPortal.Services.Review;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>The review loop's data over the real SQLite database: queue by original, decisions on originals and images, undo, CSV.</summary>
public sealed class ReviewServiceTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-review");
    private ServiceProvider services = default!;
    private ReviewSeed seed = default!;

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        seed = await ReviewSeed.WriteAsync(services);
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
    }

    private ReviewService Review => services.GetRequiredService<ReviewService>();

    [Fact]
    public async Task An_evaluation_opens_as_tiles_per_original_on_its_dataset()
    {
        var listed = Assert.Single(await Review.ListEvaluationsAsync(Ct));
        Assert.Equal((seed.EvaluationId, 18), (listed.EvaluationId, listed.Images));

        var session = await Review.OpenAsync(seed.EvaluationId, Ct);
        Assert.NotNull(session);
        Assert.True(session.CanDecide);
        Assert.Equal("review-cells", session.DatasetName);
        Assert.Equal(ReviewSeed.Labels, session.DatasetClasses);
        Assert.True(session.Queue.ByOriginal);
        Assert.Equal(5, session.Queue.Tiles.Count);
        Assert.Equal(["g1:0", "g4:1", "g3:3"], session.Queue.Select(new ReviewQuery()).Select(t => t.Id));
        Assert.StartsWith("EOSINOPHIL/g1_", session.Images[session.Queue.Tiles.First(t => t.Group == 1).Copies[0].Key].RelativePath);
        Assert.Null(await Review.OpenAsync(987654, Ct));
    }

    [Fact]
    public async Task A_decision_on_an_original_covers_all_its_images_in_the_dataset_and_undo_takes_it_back()
    {
        var session = (await Review.OpenAsync(seed.EvaluationId, Ct))!;
        var g1 = session.Queue.Tiles.Single(t => t.Group == 1);
        Assert.Equal(4, g1.Images);

        var decision = await Review.DecideAsync(new DecisionRequest(seed.DatasetId, DecisionKind.Relabel, DecisionScope.Original, g1.Copies.Select(c => int.Parse(c.Key)).ToList(),
            1, "EOSINOPHIL", "NEUTROPHIL", " ana ", "bilobed, pale granules", seed.RunId, seed.EvaluationId), Ct);

        Assert.Equal(seed.ImagesOfGroup[1].Order(), decision.ImageIds);
        Assert.Equal(6, decision.ImageIds.Count);
        Assert.Equal("ana", decision.Reviewer);

        var copy = session.Queue.Tiles.Single(t => t.Group == 3).Copies[0];
        var exclude = await Review.DecideAsync(new DecisionRequest(seed.DatasetId, DecisionKind.Exclude, DecisionScope.Image, [int.Parse(copy.Key)], 3, "NEUTROPHIL", null, "ana"), Ct);
        Assert.Equal([int.Parse(copy.Key)], exclude.ImageIds);

        var undone = await Review.UndoLastAsync(seed.DatasetId, "ana", Ct);
        Assert.Equal(exclude.Id, undone!.Id);
        Assert.Null(await Review.UndoLastAsync(seed.DatasetId, "bo", Ct));
        var all = await Review.ListDecisionsAsync(seed.DatasetId, Ct);
        Assert.Equal(2, all.Count);
        Assert.True(all.Single(d => d.Id == exclude.Id).Undone);
        var inForce = LabelDecision.InForce(all);
        Assert.Equal(6, inForce.Count);

        var (datasetName, csv) = (await Review.DecisionsCsvAsync(seed.DatasetId, Ct))!.Value;
        Assert.Equal("review-cells", datasetName);
        var lines = csv.TrimEnd().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("id,at_utc,reviewer,decision,scope,from,to,images", lines[0]);
        Assert.Contains(",ana,relabel,original,EOSINOPHIL,NEUTROPHIL,6,1,\"bilobed, pale granules\"", lines[1]);
        Assert.Contains("EOSINOPHIL/g1_5.png", lines[1]);
        Assert.Contains(",ana,exclude,image,NEUTROPHIL,,1,", lines[2]);
        Assert.EndsWith(",ana,NEUTROPHIL/g3_0.png", lines[2].TrimEnd('\r'));
        Assert.Null(await Review.DecisionsCsvAsync(987654, Ct));
    }

    [Fact]
    public async Task A_decision_that_cannot_be_taken_stores_nothing()
    {
        int[] g2 = seed.ImagesOfGroup[2];
        await AssertRefused("already labelled EOSINOPHIL", new(seed.DatasetId, DecisionKind.Relabel, DecisionScope.Original, g2, 2, "EOSINOPHIL", "EOSINOPHIL", "ana"));
        await AssertRefused("Not every image is labelled NEUTROPHIL", new(seed.DatasetId, DecisionKind.Exclude, DecisionScope.Image, [g2[0]], 2, "NEUTROPHIL", null, "ana"));
        await AssertRefused("not in the dataset", new(seed.DatasetId, DecisionKind.Exclude, DecisionScope.Image, [999_999], null, "EOSINOPHIL", null, "ana"));
        await AssertRefused("no longer one original", new(seed.DatasetId, DecisionKind.Exclude, DecisionScope.Original, [g2[0], seed.ImagesOfGroup[1][0]], 2, "EOSINOPHIL", null, "ana"));
        await AssertRefused("Say who reviews", new(seed.DatasetId, DecisionKind.Exclude, DecisionScope.Image, [g2[0]], 2, "EOSINOPHIL", null, ""));
        await AssertRefused("no dataset", new(987654, DecisionKind.Exclude, DecisionScope.Image, [g2[0]], 2, "EOSINOPHIL", null, "ana"));

        await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        Assert.Equal(0, await db.ReviewDecisions.CountAsync(Ct));
        Assert.Equal(20, await db.DatasetImages.CountAsync(i => i.DatasetId == seed.DatasetId, Ct));
    }

    [Fact]
    public async Task A_read_only_portal_decides_nothing()
    {
        await using var readOnly = new ServiceCollection().AddPortalCoreForTests(data.Path, new Dictionary<string, string?> { ["Storage:ReadOnly"] = "true" }).BuildServiceProvider();
        var review = readOnly.GetRequiredService<ReviewService>();
        Assert.NotNull(await review.OpenAsync(seed.EvaluationId, Ct));
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            review.DecideAsync(new(seed.DatasetId, DecisionKind.Exclude, DecisionScope.Image, [seed.ImagesOfGroup[2][0]], 2, "EOSINOPHIL", null, "ana"), Ct));
        Assert.Contains("read-only", ex.Message);
    }

    [Fact]
    public async Task A_stored_label_issue_search_opens_as_a_queue_of_its_flagged_originals()
    {
        // Out-of-fold probabilities: every copy of g1 (labelled EOSINOPHIL) looks like a NEUTROPHIL; the rest look like their labels.
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        List<(int Id, int? Group, string ClassName)> images;
        await using (var db = await contexts.CreateDbContextAsync(Ct))
            images = (await db.DatasetImages.Where(i => i.DatasetId == seed.DatasetId).Select(i => new { i.Id, i.SourceGroup, i.ClassName }).ToListAsync(Ct))
                .Select(i => (i.Id, i.SourceGroup, i.ClassName)).ToList();
        var scored = images.Select(i =>
        {
            int label = Array.IndexOf(ReviewSeed.Labels, i.ClassName);
            int looksLike = i.Group == 1 ? 3 : label;
            var p = Enumerable.Range(0, 4).Select(k => k == looksLike ? 0.91 : 0.03).ToArray();
            return new WbcPortal.Engine.Evaluation.LabelIssues.LabelIssueFinder.ScoredImage(i.Id, i.Group, label, p, 0);
        }).ToList();
        var report = WbcPortal.Engine.Evaluation.LabelIssues.LabelIssueFinder.FromProbabilities(ReviewSeed.Labels, scored, 3, 1);
        Assert.Equal(6, report.IssueCount);
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            db.LabelIssueRuns.Add(new WbcPortal.Storage.Entities.LabelIssueRun
            {
                DatasetId = seed.DatasetId, CreatedAt = DateTimeOffset.UtcNow, Mode = LabelIssueService.CrossValidationMode, Folds = 3, Seed = 1, Images = scored.Count,
                Issues = report.IssueCount, Originals = report.Originals.Count, LikelyOriginals = report.LikelyOriginalCount, Seconds = 1, ResultJson = System.Text.Json.JsonSerializer.Serialize(new LabelIssueResult(report, [], 0, 1, 0), new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)),
            });
            await db.SaveChangesAsync(Ct);
        }

        var search = Assert.Single(await services.GetRequiredService<LabelIssueService>().ListAsync(seed.DatasetId, Ct));
        // One count leads: originals most of whose copies are flagged; the flagged images follow it.
        Assert.Contains(await Review.ListSourcesAsync(Ct), s => s.Key == ReviewSource.LabelIssuesKey(search.Id)
            && s.Title.EndsWith($"1 of {report.Originals.Count} originals likely mislabelled (6 of 20 images flagged)", StringComparison.Ordinal));
        var session = await Review.OpenLabelIssuesAsync(search.Id, Ct);
        Assert.NotNull(session);
        Assert.True(session.CanDecide);
        Assert.True(session.Queue.HasLabelIssues);
        Assert.Equal(20, session.Queue.Images);
        var flagged = Assert.Single(session.Queue.Select(new ReviewQuery(ReviewFilter.LabelIssues)));
        Assert.Equal(("g1:0", 6, 3), (flagged.Id, flagged.Flagged, flagged.Predicted));
        // The review's "Likely mislabelled" chip counts what the search's headline counts.
        Assert.Equal(search.LikelyOriginals, session.Queue.Select(new ReviewQuery(ReviewFilter.LabelIssues)).Count);
        Assert.Null(await Review.OpenLabelIssuesAsync(987654, Ct));
    }

    private async Task AssertRefused(string expected, DecisionRequest request)
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => Review.DecideAsync(request, Ct));
        Assert.Contains(expected, ex.Message);
    }
}
