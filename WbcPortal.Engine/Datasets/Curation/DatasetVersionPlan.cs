namespace WbcPortal.Engine.Datasets.Curation;

/// <summary>An image of the dataset a version is made from: its id and its class there.</summary>
public sealed record VersionSourceImage(int Id, string ClassName);

/// <summary>One image the new version changes: relabelled (<see cref="ToClass"/>) or left out (<see cref="ToClass"/> null).</summary>
public sealed record VersionChange(int ImageId, string FromClass, string? ToClass, long DecisionId, string Reviewer, DateTimeOffset At, string? Note)
{
    public bool Excluded => ToClass is null;
}

/// <summary>
/// What a new dataset version holds, from the review decisions in force on its parent: every image kept under its
/// (possibly new) class, except the excluded ones. "Model wrong" decisions change nothing. A pure plan: the service
/// stores it as a new, immutable dataset and leaves the parent, its splits and runs untouched.
/// </summary>
public sealed record DatasetVersionPlan(IReadOnlyList<VersionSourceImage> Kept, IReadOnlyList<VersionChange> Changes)
{
    public int Relabelled => Changes.Count(c => !c.Excluded);
    public int Excluded => Changes.Count(c => c.Excluded);

    /// <summary>
    /// Plans the version. Throws <see cref="ArgumentException"/> when no decision changes anything, or when the version
    /// would keep fewer than two classes (nothing to train on).
    /// </summary>
    public static DatasetVersionPlan From(IReadOnlyList<VersionSourceImage> images, IEnumerable<LabelDecision> decisions)
    {
        ArgumentNullException.ThrowIfNull(images);
        var inForce = LabelDecision.InForce(decisions);
        var kept = new List<VersionSourceImage>(images.Count);
        var changes = new List<VersionChange>();
        foreach (var image in images)
        {
            if (!inForce.TryGetValue(image.Id, out var d) || d.Kind == DecisionKind.ModelWrong)
            {
                kept.Add(image);
                continue;
            }
            if (d.FromClass != image.ClassName)
                throw new ArgumentException($"Image {image.Id} is labelled {image.ClassName}, but decision {d.Id} was taken on it as {d.FromClass}: the dataset changed under the decision.");
            if (d.Kind == DecisionKind.Relabel)
            {
                kept.Add(image with { ClassName = d.ToClass! });
                changes.Add(new VersionChange(image.Id, image.ClassName, d.ToClass, d.Id, d.Reviewer, d.At, d.Note));
            }
            else
            {
                changes.Add(new VersionChange(image.Id, image.ClassName, null, d.Id, d.Reviewer, d.At, d.Note));
            }
        }
        if (changes.Count == 0)
            throw new ArgumentException("No decision in force relabels or excludes an image of this dataset: a new version would be the same. (\"Model wrong\" decisions keep the labels.)");
        int classes = kept.Select(i => i.ClassName).Distinct().Count();
        if (classes < 2)
            throw new ArgumentException($"The new version would keep {(classes == 0 ? "no image" : "a single class")}: a classifier needs at least two classes. Undo some exclusions or relabels first.");
        return new DatasetVersionPlan(kept, changes);
    }
}
