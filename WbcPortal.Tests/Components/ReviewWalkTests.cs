using WbcPortal.Components.Pages.Review;
using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Evaluation.Review;

namespace WbcPortal.Tests.Components;

/// <summary>The keyboard walk of the review grid, without a browser.</summary>
public class ReviewWalkTests
{
    private static IReadOnlyList<ReviewTile> Tiles(int count) =>
        ReviewQueue.Build(["EOSINOPHIL", "NEUTROPHIL"], Enumerable.Range(0, count).Select(i => new ReviewImage($"{i}", null, 0, [0f, 1f])).ToList(), 1)
            .Select(new ReviewQuery(ReviewFilter.All));

    [Theory]
    [InlineData("ArrowRight", ReviewKeyAction.Next, -1)]
    [InlineData("ArrowDown", ReviewKeyAction.Next, -1)]
    [InlineData("ArrowLeft", ReviewKeyAction.Previous, -1)]
    [InlineData("1", ReviewKeyAction.Relabel, 0)]
    [InlineData("4", ReviewKeyAction.Relabel, 3)]
    [InlineData("5", ReviewKeyAction.None, -1)]
    [InlineData("x", ReviewKeyAction.Exclude, -1)]
    [InlineData("m", ReviewKeyAction.ModelWrong, -1)]
    [InlineData("u", ReviewKeyAction.Undo, -1)]
    [InlineData("Enter", ReviewKeyAction.ToggleCopies, -1)]
    [InlineData("Escape", ReviewKeyAction.WholeOriginal, -1)]
    [InlineData("g", ReviewKeyAction.GradCam, -1)]
    [InlineData("n", ReviewKeyAction.Neighbours, -1)]
    [InlineData("Tab", ReviewKeyAction.None, -1)]
    public void Keys_map_to_actions(string key, ReviewKeyAction action, int classIndex)
    {
        Assert.Equal(action, ReviewWalk.Read(key, classes: 4, out int c));
        Assert.Equal(classIndex, c);
    }

    [Fact]
    public void Moving_stays_inside_the_list_and_turns_pages()
    {
        var walk = new ReviewWalk();
        walk.Show(Tiles(ReviewWalk.PageSize + 3), new Dictionary<int, LabelDecision>());
        walk.Move(-1);
        Assert.Equal(0, walk.Index);
        walk.Select(ReviewWalk.PageSize - 1);
        walk.Move(1);
        Assert.Equal((ReviewWalk.PageSize, 1), (walk.Index, walk.Page));
        Assert.Equal(3, walk.PageTiles.Count());
        walk.Move(100);
        Assert.Equal(ReviewWalk.PageSize + 2, walk.Index);
        Assert.Equal(2, walk.Pages);
    }

    [Fact]
    public void A_new_list_keeps_the_selected_tile_or_the_same_place()
    {
        var tiles = Tiles(5);
        var walk = new ReviewWalk();
        walk.Show(tiles, new Dictionary<int, LabelDecision>());
        walk.Select(2);
        string selected = walk.Selected!.Id;
        walk.Show(tiles.Reverse().ToList(), new Dictionary<int, LabelDecision>());
        Assert.Equal(selected, walk.Selected!.Id);

        // The selected tile left the list (decided, with "undecided only"): the next one takes its place.
        walk.Show(tiles.Where(t => t.Id != selected).ToList(), new Dictionary<int, LabelDecision>());
        Assert.Equal(tiles[3].Id, walk.Selected!.Id);
        walk.Show([], new Dictionary<int, LabelDecision>());
        Assert.Null(walk.Selected);
    }

    [Fact]
    public void Decisions_on_a_tile_are_read_from_its_copies()
    {
        var tiles = Tiles(2);
        var decision = new LabelDecision
        {
            Id = 9, Kind = DecisionKind.Exclude, Scope = DecisionScope.Image, ImageIds = [1], FromClass = "EOSINOPHIL", Reviewer = "ana", At = DateTimeOffset.UnixEpoch,
        };
        var walk = new ReviewWalk();
        walk.Show(tiles, LabelDecision.InForce([decision]));
        var one = tiles.Single(t => t.Id == "1");
        Assert.True(walk.IsSettled(one));
        Assert.Equal(9, walk.DecisionsOn(one).Single().Decision.Id);
        Assert.False(walk.IsSettled(tiles.Single(t => t.Id == "0")));
    }
}
