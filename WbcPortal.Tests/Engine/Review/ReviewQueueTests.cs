using WbcPortal.Engine.Evaluation.Review;

namespace WbcPortal.Tests.Engine.Review;

/// <summary>The review queue counts by original: one mistaken cell is one tile however many copies it has.</summary>
public class ReviewQueueTests
{
    private static readonly string[] Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];

    private static float[] Sure(int cls, float margin = 4f)
    {
        var l = new float[4];
        l[cls] = margin;
        return l;
    }

    /// <summary>
    /// g1: EOSINOPHIL, 4 copies all called NEUTROPHIL (sure); g2: EOSINOPHIL, 3 copies right; g3: NEUTROPHIL, 5 copies,
    /// 1 called EOSINOPHIL (barely); g4: LYMPHOCYTE, 3 copies, 2 called MONOCYTE; one ungrouped MONOCYTE image, right but unsure.
    /// </summary>
    private static List<ReviewImage> Images()
    {
        var images = new List<ReviewImage>();
        for (int i = 0; i < 4; i++) images.Add(new($"1{i}", 1, 0, Sure(3)));
        for (int i = 0; i < 3; i++) images.Add(new($"2{i}", 2, 0, Sure(0)));
        for (int i = 0; i < 5; i++) images.Add(new($"3{i}", 3, 3, i == 0 ? [0.2f, 0, 0, 0] : Sure(3)));
        for (int i = 0; i < 3; i++) images.Add(new($"4{i}", 4, 1, i < 2 ? Sure(2, 2f) : Sure(1)));
        images.Add(new("50", null, 2, [0, 0, 0.3f, 0]));
        return images;
    }

    [Fact]
    public void Tiles_are_originals_with_their_copies_counted_and_what_they_are_called()
    {
        var queue = ReviewQueue.Build(Labels, Images(), temperature: 1);

        Assert.True(queue.ByOriginal);
        Assert.Equal(5, queue.Tiles.Count);
        Assert.Equal(16, queue.Images);
        var g1 = queue.Tiles.Single(t => t.Group == 1);
        Assert.Equal((4, 4, 3), (g1.Images, g1.Wrong, g1.Predicted));
        Assert.Equal([0, 0, 0, 4], g1.CalledAs);
        Assert.True(g1.LabelProbability < 0.05);
        Assert.Equal(1, g1.Probabilities.Sum(), 6);
        var g4 = queue.Tiles.Single(t => t.Group == 4);
        Assert.Equal((2, 2), (g4.Wrong, g4.Predicted));
        Assert.True(g4.Shown.Wrong, "a mistaken tile shows one of its wrong copies");
        Assert.False(queue.Tiles.Single(t => t.Group is null).IsOriginal);
        Assert.Equal(3, g1.TopClasses(3).First());
        Assert.Equal(3, g1.TopClasses(3).Count());
    }

    [Fact]
    public void Each_tile_counts_the_copies_the_model_would_leave_unidentified()
    {
        // Sure copies are at p 0.948, g4's MONOCYTE calls at 0.711, g3's odd copy at 0.289 and the lone image at 0.31.
        var queue = ReviewQueue.Build(Labels, Images(), 1, rejectThreshold: 0.8);
        Assert.Equal(0.8, queue.RejectThreshold);
        Assert.Equal([(1, 0), (2, 0), (3, 1), (4, 2)], queue.Tiles.Where(t => t.Group is not null).OrderBy(t => t.Group).Select(t => (t.Group!.Value, t.Unidentified)));
        Assert.Equal(1, queue.Tiles.Single(t => t.Group is null).Unidentified);
        Assert.All(ReviewQueue.Build(Labels, Images(), 1).Tiles, t => Assert.Equal(0, t.Unidentified));
    }

    [Fact]
    public void Most_confused_pairs_count_images_and_originals()
    {
        var queue = ReviewQueue.Build(Labels, Images(), 1);

        Assert.Equal([(0, 3, 4, 1), (1, 2, 2, 1), (3, 0, 1, 1)], queue.MostConfused.Select(c => (c.Actual, c.Predicted, c.Images, c.Originals)));
        Assert.Equal([(0, 3), (3, 0), (1, 2), (2, 1)], queue.FocusPairs());
        Assert.Equal(0, queue.Pair(2, 1).Images);
    }

    [Fact]
    public void Queries_give_mistakes_a_pair_or_the_low_confidence_queue_in_a_repeatable_order()
    {
        var queue = ReviewQueue.Build(Labels, Images(), 1);

        var mistakes = queue.Select(new ReviewQuery());
        Assert.Equal(["g1:0", "g4:1", "g3:3"], mistakes.Select(t => t.Id));
        Assert.Equal(["g1:0"], queue.Select(new ReviewQuery(ReviewFilter.Pair, 0, 3)).Select(t => t.Id));
        Assert.Equal(["g3:3"], queue.Select(new ReviewQuery(ReviewFilter.Pair, 3, 0)).Select(t => t.Id));
        Assert.Empty(queue.Select(new ReviewQuery(ReviewFilter.Pair, 2, 1)));

        // The lone monocyte (p ≈ 0.32) and the lymphocyte original (mean p of MONOCYTE ≈ 0.58) are below 0.6; the sure ones are not.
        var low = queue.Select(new ReviewQuery(ReviewFilter.LowConfidence, Threshold: 0.6, Sort: ReviewSort.ConfidenceLow));
        Assert.Equal(["50", "g4:1"], low.Select(t => t.Id));
        Assert.Equal(5, queue.Select(new ReviewQuery(ReviewFilter.All, Sort: ReviewSort.ConfidenceHigh)).Count);
        Assert.Equal(queue.Select(new ReviewQuery(ReviewFilter.All)).Select(t => t.Id), queue.Select(new ReviewQuery(ReviewFilter.All)).Select(t => t.Id));
    }

    [Fact]
    public void Without_groups_every_image_is_a_tile()
    {
        var images = Images().Select(i => i with { Group = null }).ToList();
        var queue = ReviewQueue.Build(Labels, images, 1);

        Assert.False(queue.ByOriginal);
        Assert.Equal(16, queue.Tiles.Count);
        Assert.Equal(7, queue.Select(new ReviewQuery()).Count);
        Assert.Equal((0, 3, 4, 4), queue.MostConfused.Select(c => (c.Actual, c.Predicted, c.Images, c.Originals)).First());
    }

    [Fact]
    public void A_cross_class_group_is_one_tile_per_class()
    {
        var images = new List<ReviewImage> { new("a", 7, 0, Sure(0)), new("b", 7, 3, Sure(0)) };
        var queue = ReviewQueue.Build(Labels, images, 1);
        Assert.Equal(["g7:0", "g7:3"], queue.Tiles.Select(t => t.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Bad_input_and_bad_queries_are_refused_with_their_reason()
    {
        Assert.Contains("has 1 logits for 4 classes", Assert.Throws<ArgumentException>(() => ReviewQueue.Build(Labels, [new("a", null, 0, Sure(0)), new("b", null, 0, [1f])], 1)).Message);
        Assert.Throws<ArgumentException>(() => ReviewQueue.Build(Labels, [new("a", null, 9, Sure(0))], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReviewQueue.Build(Labels, [], 0));
        var queue = ReviewQueue.Build(Labels, Images(), 1);
        Assert.Contains("two different classes", Assert.Throws<ArgumentException>(() => queue.Select(new ReviewQuery(ReviewFilter.Pair, 1, 1))).Message);
        Assert.Contains("between 0 and 1", Assert.Throws<ArgumentException>(() => queue.Select(new ReviewQuery(ReviewFilter.LowConfidence, Threshold: 1.5))).Message);
        Assert.Empty(ReviewQueue.Build(Labels, [], 1).Tiles);
    }
}
