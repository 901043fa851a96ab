using WbcPortal.Engine.Datasets.Curation;
using WbcPortal.Engine.Evaluation.Review;

namespace WbcPortal.Components.Pages.Review;

/// <summary>What a key press on the review grid asks for.</summary>
public enum ReviewKeyAction
{
    None,
    Next,
    Previous,
    Relabel,
    Exclude,
    ModelWrong,
    Undo,
    ToggleCopies,
    WholeOriginal,
    GradCam,
    Neighbours,
}

/// <summary>
/// Where the reviewer is in a list of tiles: the selected tile (and copy, when one image of an original is chosen), the
/// page it falls on, and the decisions in force. A plain class so that the keyboard walk is tested without a browser.
/// </summary>
public sealed class ReviewWalk
{
    public const int PageSize = 48;

    private IReadOnlyDictionary<int, LabelDecision> inForce = new Dictionary<int, LabelDecision>();

    public IReadOnlyList<ReviewTile> Tiles { get; private set; } = [];
    public int Index { get; private set; }
    /// <summary>The copy chosen inside the selected original: decisions then cover that image only.</summary>
    public ReviewCopy? Copy { get; private set; }
    public ReviewTile? Selected => Index < Tiles.Count ? Tiles[Index] : null;
    public int Page => Index / PageSize;
    public int Pages => Math.Max(1, (Tiles.Count + PageSize - 1) / PageSize);
    public IEnumerable<ReviewTile> PageTiles => Tiles.Skip(Page * PageSize).Take(PageSize);

    /// <summary>Shows a new list; the selection stays on the tile it was on when that tile is still listed.</summary>
    public void Show(IReadOnlyList<ReviewTile> tiles, IReadOnlyDictionary<int, LabelDecision> decisions)
    {
        string? was = Selected?.Id;
        Tiles = tiles;
        inForce = decisions;
        int found = was is null ? -1 : tiles.ToList().FindIndex(t => t.Id == was);
        Index = found >= 0 ? found : Math.Min(Index, Math.Max(0, tiles.Count - 1));
        if (Copy is not null && Selected?.Copies.Contains(Copy) != true) Copy = null;
    }

    public void UpdateDecisions(IReadOnlyDictionary<int, LabelDecision> decisions) => inForce = decisions;

    public void Select(int index)
    {
        if (Tiles.Count == 0) return;
        int next = Math.Clamp(index, 0, Tiles.Count - 1);
        if (next != Index) Copy = null;
        Index = next;
    }

    public void Move(int delta) => Select(Index + delta);

    public void GoToPage(int page) => Select(page * PageSize);

    public void ChooseCopy(ReviewCopy? copy) => Copy = copy is not null && Selected?.Copies.Contains(copy) == true ? copy : null;

    /// <summary>The decision in force on an image, when there is one.</summary>
    public LabelDecision? DecisionOn(string key) => int.TryParse(key, out int id) && inForce.TryGetValue(id, out var d) ? d : null;

    /// <summary>The decisions in force on a tile's evaluated copies, latest first, with how many copies each covers.</summary>
    public IReadOnlyList<(LabelDecision Decision, int Copies)> DecisionsOn(ReviewTile tile) =>
        tile.Copies.Select(c => DecisionOn(c.Key)).OfType<LabelDecision>().GroupBy(d => d.Id)
            .Select(g => (g.First(), g.Count())).OrderByDescending(x => x.Item1.At).ThenByDescending(x => x.Item1.Id).ToList();

    /// <summary>Whether every evaluated copy of the tile has a decision in force.</summary>
    public bool IsSettled(ReviewTile tile) => tile.Copies.All(c => DecisionOn(c.Key) is not null);

    /// <summary>Maps a key (the DOM <c>KeyboardEvent.key</c>) to an action; <paramref name="classIndex"/> is the 0-based class of a digit key.</summary>
    public static ReviewKeyAction Read(string key, int classes, out int classIndex)
    {
        classIndex = -1;
        switch (key)
        {
            case "ArrowRight" or "ArrowDown" or "j": return ReviewKeyAction.Next;
            case "ArrowLeft" or "ArrowUp" or "k": return ReviewKeyAction.Previous;
            case "x" or "X": return ReviewKeyAction.Exclude;
            case "m" or "M": return ReviewKeyAction.ModelWrong;
            case "u" or "U": return ReviewKeyAction.Undo;
            case "Enter" or " ": return ReviewKeyAction.ToggleCopies;
            case "Escape": return ReviewKeyAction.WholeOriginal;
            case "g" or "G": return ReviewKeyAction.GradCam;
            case "n" or "N": return ReviewKeyAction.Neighbours;
        }
        if (key.Length == 1 && key[0] is >= '1' and <= '9' && key[0] - '1' < classes)
        {
            classIndex = key[0] - '1';
            return ReviewKeyAction.Relabel;
        }
        return ReviewKeyAction.None;
    }
}
