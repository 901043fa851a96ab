using WbcPortal.Engine.Datasets.Curation;

namespace WbcPortal.Tests.Engine.Review;

public class LabelDecisionTests
{
    private static readonly string[] Classes = ["EOSINOPHIL", "NEUTROPHIL"];
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static LabelDecision D(long id, DecisionKind kind, int[] images, int minutes, DateTimeOffset? undone = null) => new()
    {
        Id = id, Kind = kind, Scope = images.Length > 1 ? DecisionScope.Original : DecisionScope.Image, ImageIds = images,
        FromClass = "EOSINOPHIL", ToClass = kind == DecisionKind.Relabel ? "NEUTROPHIL" : null, Reviewer = "ana", At = T0.AddMinutes(minutes), UndoneAt = undone,
    };

    [Fact]
    public void The_latest_decision_not_undone_is_in_force_per_image()
    {
        var original = D(1, DecisionKind.Relabel, [1, 2, 3], 0);
        var oneCopy = D(2, DecisionKind.Exclude, [2], 1);
        var undone = D(3, DecisionKind.ModelWrong, [3], 2, undone: T0.AddMinutes(3));

        var inForce = LabelDecision.InForce([undone, oneCopy, original]);

        Assert.Equal(1, inForce[1].Id);
        Assert.Equal(2, inForce[2].Id);
        Assert.Equal(1, inForce[3].Id);
        Assert.False(inForce.ContainsKey(4));
        Assert.Equal("EOSINOPHIL → NEUTROPHIL", original.Describe());
        Assert.Equal("excluded", oneCopy.Describe());
        Assert.Equal("model wrong (EOSINOPHIL stands)", undone.Describe());
    }

    [Fact]
    public void A_decision_replaced_on_every_image_it_covered_or_undone_no_longer_counts_as_in_force()
    {
        // The case: a relabel later replaced by an exclude on its one image, plus two others in force: 2, not 3.
        var relabel = D(1, DecisionKind.Relabel, [1], 0);
        var exclude = D(2, DecisionKind.Exclude, [1], 1);
        var settled = D(3, DecisionKind.ModelWrong, [2, 3, 4], 2);
        var undone = D(4, DecisionKind.Exclude, [5], 3, undone: T0.AddMinutes(4));
        LabelDecision[] all = [relabel, exclude, settled, undone];

        Assert.Equal(3, all.Count(d => !d.Undone)); // what the review page counted before
        Assert.Equal(2, LabelDecision.CountInForce(all));
        // A decision replaced on only some of its images still decides the rest: it counts.
        Assert.Equal(2, LabelDecision.CountInForce([settled, D(5, DecisionKind.Exclude, [3], 5)]));
    }

    [Theory]
    [InlineData(DecisionKind.Relabel, "EOSINOPHIL", "ana", "already labelled EOSINOPHIL")]
    [InlineData(DecisionKind.Relabel, "BASOPHIL", "ana", "one of the dataset's classes")]
    [InlineData(DecisionKind.Relabel, null, "ana", "one of the dataset's classes")]
    [InlineData(DecisionKind.Exclude, "NEUTROPHIL", "ana", "Only a relabel")]
    [InlineData(DecisionKind.ModelWrong, null, " ", "Say who reviews")]
    public void A_decision_that_cannot_be_taken_says_why(DecisionKind kind, string? to, string reviewer, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => LabelDecision.Validate(kind, [1], "EOSINOPHIL", to, reviewer, null, Classes));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Empty_decisions_long_notes_and_long_names_are_refused()
    {
        Assert.Contains("at least one image", Assert.Throws<ArgumentException>(() => LabelDecision.Validate(DecisionKind.Exclude, [], "EOSINOPHIL", null, "ana", null, Classes)).Message);
        Assert.Throws<ArgumentException>(() => LabelDecision.Validate(DecisionKind.Exclude, [1], "EOSINOPHIL", null, "ana", new string('n', LabelDecision.MaxNoteLength + 1), Classes));
        Assert.Throws<ArgumentException>(() => LabelDecision.Validate(DecisionKind.Exclude, [1], "EOSINOPHIL", null, new string('a', LabelDecision.MaxReviewerLength + 1), null, Classes));
        LabelDecision.Validate(DecisionKind.Relabel, [1], "EOSINOPHIL", "NEUTROPHIL", "ana", "looks lobed", Classes);
    }
}
