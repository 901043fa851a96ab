namespace WbcPortal.Engine.Datasets.Splitting;

/// <summary>How far a split's held-out figures can be trusted, from its strategy, its source groups and its independent leak check.</summary>
public enum SplitHonestyStatus
{
    /// <summary>Grouped: no source group on two sides, and the independent near-duplicate check found no suspect pair across parts.</summary>
    LeakFree,
    /// <summary>No group on two sides, but the independent check found near-duplicate pairs across parts (possible copies of one cell).</summary>
    SuspectPairs,
    /// <summary>A grouped split that still put a source group on two sides (made by an older version, or carved oddly).</summary>
    Leaky,
    /// <summary>Random, image by image: copies of one original are in train and in the held-out parts by construction.</summary>
    LeakyByDesign,
    /// <summary>No group on two sides, but the independent leak check has not run (a split made before it existed).</summary>
    Unchecked,
}

/// <summary>A cross-part near-duplicate found by the independent leak check: two images (dataset image ids) in different parts.</summary>
public sealed record SuspectPair(int ImageA, string PartA, int ImageB, string PartB, double Distance);

/// <summary>
/// The independent leak check of a split: an image-level near-duplicate search across its parts that does not use the
/// source groups. <see cref="Pairs"/> lists the suspect pairs found (at most <see cref="PairsKept"/>, closest first);
/// <see cref="SuspectPairs"/> counts them all.
/// </summary>
public sealed record LeakCheckReport(string Method, double Threshold, int ImagesChecked, int SuspectPairs, IReadOnlyList<SuspectPair> Pairs, double Seconds)
{
    public const int PairsKept = 200;

    /// <summary>Validation and test images in at least one suspect pair.</summary>
    public int HeldOutFlagged { get; init; }

    /// <summary>Validation and test images checked.</summary>
    public int HeldOut { get; init; }

    /// <summary>Images whose file could not be read (left out of the search).</summary>
    public int Unreadable { get; init; }
}

/// <summary>The honesty of a split, worded for people; every page and export that shows a figure shows this beside it.</summary>
public sealed record SplitHonesty(SplitHonestyStatus Status, string Label, string Detail)
{
    /// <summary>True when a held-out figure of the split can be read as a fair estimate (leak-free).</summary>
    public bool Trustworthy => Status == SplitHonestyStatus.LeakFree;

    public static SplitHonesty Of(SplitReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (report.Strategy == SplitStrategy.Random)
            return new(SplitHonestyStatus.LeakyByDesign, "leaky by design",
                "Random split, image by image: copies of one original sit in train and in the held-out parts, so its validation and test figures are optimistic.");
        if (report.Leaky || report.GroupsOnSeveralSides > 0)
            return new(SplitHonestyStatus.Leaky, "leaky",
                $"{report.GroupsOnSeveralSides:N0} source group(s) sit on two or more sides: held-out figures are optimistic.");
        if (report.LeakCheck is not { } check)
            return new(SplitHonestyStatus.Unchecked, "not leak-checked",
                "No source group is on two sides, but the independent near-duplicate check has not run on this split.");
        if (check.SuspectPairs > 0)
            return new(SplitHonestyStatus.SuspectPairs, $"{check.SuspectPairs:N0} suspect pair(s)",
                $"No source group is on two sides, but the independent check found {check.SuspectPairs:N0} near-duplicate pair(s) across parts: look at them before trusting held-out figures.");
        return new(SplitHonestyStatus.LeakFree, "leak-free",
            $"No source group on two sides, and the independent near-duplicate check of {check.ImagesChecked:N0} images found no pair across parts.");
    }
}
