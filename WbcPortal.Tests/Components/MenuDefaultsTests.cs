using WbcPortal.Components.Pages;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Review;

namespace WbcPortal.Tests.Components;

/// <summary>What Explore and Review show when opened from the menu, with nothing named in the address.</summary>
public class MenuDefaultsTests
{
    private static ReviewSource Evaluation(int id, string part, bool fold) =>
        new(ReviewSource.EvaluationKey(id), $"e{id}", $"split s / {part}", id, $"run{id}", id, null, part, fold);

    [Fact]
    public void Review_opens_the_newest_plain_runs_test_part_before_any_folds()
    {
        // Newest run first, as the service lists them: two folds of a cross-validation, then a plain run.
        ReviewSource[] sources = [Evaluation(9, "test", fold: true), Evaluation(8, "val", fold: true), Evaluation(7, "val", fold: false), Evaluation(6, "test", fold: false), Evaluation(5, "test", fold: false)];
        Assert.Equal("e6", ReviewSource.DefaultOf(sources)?.Key);
    }

    [Fact]
    public void Review_opens_a_folds_test_part_when_no_plain_run_has_one_then_anything()
    {
        Assert.Equal("e9", ReviewSource.DefaultOf([Evaluation(9, "test", fold: true), Evaluation(7, "folder", fold: false)])?.Key);
        var issues = new ReviewSource("l3", "Label issues", "label-issue search 3", null, null, null, 3);
        Assert.Equal("l3", ReviewSource.DefaultOf([issues])?.Key);
        Assert.Null(ReviewSource.DefaultOf([]));
    }

    [Fact]
    public void Explore_shows_the_most_recently_created_dataset()
    {
        var now = DateTimeOffset.UtcNow;
        DatasetSummary Dataset(int id, DateTimeOffset at) => new(id, $"d{id}", at, 10, new Dictionary<string, int>(), null, 0, 0);
        Assert.Equal(2, Explore.Newest([Dataset(1, now.AddDays(-1)), Dataset(2, now), Dataset(3, now.AddDays(-2))])?.Id);
        Assert.Equal(5, Explore.Newest([Dataset(4, now), Dataset(5, now)])?.Id);
        Assert.Null(Explore.Newest([]));
    }
}
