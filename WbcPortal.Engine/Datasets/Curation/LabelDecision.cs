namespace WbcPortal.Engine.Datasets.Curation;

/// <summary>What a reviewer decided about a cell's label.</summary>
public enum DecisionKind
{
    /// <summary>The label is wrong: the cell is of <see cref="LabelDecision.ToClass"/>.</summary>
    Relabel,
    /// <summary>The image is not a usable white-cell image: leave it out of the next dataset version.</summary>
    Exclude,
    /// <summary>The model is wrong and the label stands: nothing changes in the data, the case is settled.</summary>
    ModelWrong,
}

/// <summary>Whether a decision was taken on one image or on a whole original (every copy of one source group under one label).</summary>
public enum DecisionScope
{
    Image,
    Original,
}

/// <summary>
/// One reviewer's decision, immutable once taken: the images it covers are listed by id (source groups can be found
/// again later with other ids). Undoing a decision does not delete it: it is marked undone, so the record of who decided
/// what, and who took it back, stays whole.
/// </summary>
public sealed record LabelDecision
{
    public const int MaxNoteLength = 500;
    public const int MaxReviewerLength = 80;

    public required long Id { get; init; }
    public required DecisionKind Kind { get; init; }
    public required DecisionScope Scope { get; init; }
    public required IReadOnlyList<int> ImageIds { get; init; }
    public required string FromClass { get; init; }
    /// <summary>The class a relabel gives; null for the other kinds.</summary>
    public string? ToClass { get; init; }
    public required string Reviewer { get; init; }
    public string? Note { get; init; }
    public required DateTimeOffset At { get; init; }
    public DateTimeOffset? UndoneAt { get; init; }
    public bool Undone => UndoneAt is not null;

    /// <summary>Checks a decision before it is stored; the message is what the reviewer reads.</summary>
    public static void Validate(DecisionKind kind, IReadOnlyCollection<int> imageIds, string fromClass, string? toClass, string reviewer, string? note, IReadOnlyCollection<string> classes)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentException($"Unknown decision {kind}.");
        if (imageIds.Count == 0) throw new ArgumentException("A decision needs at least one image.");
        if (string.IsNullOrWhiteSpace(reviewer)) throw new ArgumentException("Say who reviews: a decision records its reviewer.");
        if (reviewer.Trim().Length > MaxReviewerLength) throw new ArgumentException($"A reviewer name is at most {MaxReviewerLength} characters.");
        if (note is { Length: > MaxNoteLength }) throw new ArgumentException($"A note is at most {MaxNoteLength} characters.");
        if (kind == DecisionKind.Relabel)
        {
            if (toClass is null || !classes.Contains(toClass)) throw new ArgumentException($"Relabel to one of the dataset's classes ({string.Join(", ", classes)}).");
            if (toClass == fromClass) throw new ArgumentException($"The images are already labelled {fromClass}: to keep the label, say the model is wrong.");
        }
        else if (toClass is not null) throw new ArgumentException("Only a relabel names a new class.");
    }

    /// <summary>
    /// The decision in force for each image: the latest one not undone that covers it (a later decision on an image
    /// overrides an earlier one on its whole original, and the other way round).
    /// </summary>
    public static IReadOnlyDictionary<int, LabelDecision> InForce(IEnumerable<LabelDecision> decisions)
    {
        var result = new Dictionary<int, LabelDecision>();
        foreach (var d in decisions.Where(d => !d.Undone).OrderBy(d => d.At).ThenBy(d => d.Id))
            foreach (int id in d.ImageIds) result[id] = d;
        return result;
    }

    /// <summary>
    /// How many decisions are in force: those that still decide at least one image (<see cref="InForce"/>). A decision undone, or
    /// wholly replaced by later ones on every image it covered, no longer counts. The one count every page and export shows.
    /// </summary>
    public static int CountInForce(IEnumerable<LabelDecision> decisions) => InForce(decisions).Values.Select(d => d.Id).Distinct().Count();

    /// <summary>A short reading of the decision: "EOSINOPHIL → NEUTROPHIL", "excluded", "model wrong (EOSINOPHIL stands)".</summary>
    public string Describe() => Kind switch
    {
        DecisionKind.Relabel => $"{FromClass} → {ToClass}",
        DecisionKind.Exclude => "excluded",
        _ => $"model wrong ({FromClass} stands)",
    };
}
