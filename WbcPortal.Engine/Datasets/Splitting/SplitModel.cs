namespace WbcPortal.Engine.Datasets.Splitting;

public enum SplitStrategy
{
    /// <summary>Stratified by class, image by image (the study's way). Leaky when images are copies of shared originals.</summary>
    Random,
    /// <summary>Stratified by class, source group by source group: no group on two sides.</summary>
    Grouped,
    /// <summary>Keeps the dataset's own TRAIN / (VAL) / TEST folders; a missing validation part is carved from TRAIN by group.</summary>
    Folders,
}

public static class SplitParts
{
    public const string Train = "train";
    public const string Val = "val";
    public const string Test = "test";
    public static IReadOnlyList<string> All { get; } = [Train, Val, Test];
}

/// <summary>Part shares; they must be positive for train and sum to 1 (within rounding).</summary>
public sealed record SplitRatios(double Train, double Val, double Test)
{
    public static SplitRatios Default { get; } = new(0.7, 0.15, 0.15);

    public double this[string part] => part switch
    {
        SplitParts.Train => Train,
        SplitParts.Val => Val,
        SplitParts.Test => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(part)),
    };

    public static SplitRatios Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 3 || !parts.All(p => double.TryParse(p, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _)))
            throw new ArgumentException($"Ratios must be three numbers like 0.7,0.15,0.15; got '{text}'.");
        var v = parts.Select(p => double.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var r = new SplitRatios(v[0], v[1], v[2]);
        r.Validate();
        return r;
    }

    public void Validate()
    {
        if (Train <= 0 || Val < 0 || Test < 0) throw new ArgumentException("Ratios: train must be above 0, validation and test 0 or more.");
        if (Math.Abs(Train + Val + Test - 1) > 0.011) throw new ArgumentException($"Ratios must sum to 1; they sum to {Train + Val + Test:0.###}.");
    }

    public override string ToString() => FormattableString.Invariant($"{Train:0.###},{Val:0.###},{Test:0.###}");
}

/// <summary>An image to place: its id, class, source group (unique per image when ungrouped) and outer folder.</summary>
public sealed record SplitItem(int Id, string ClassName, int Group, string? FolderPart);

public sealed record SplitAssignment(int Id, string Part);

public sealed record SplitReport(
    string Strategy,
    string Ratios,
    int Seed,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Parts,
    int Groups,
    IReadOnlyDictionary<string, int> GroupsPerPart,
    int GroupsOnSeveralSides,
    int CrossSplitLeaks,
    bool Leaky,
    double MaxClassShareDeviation,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>>? OriginalsPerPart = null,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>? EffectiveOriginalsPerPart = null)
{
    /// <summary>
    /// The class with the fewest effective originals in a part other than train, e.g. ("test", "MONOCYTE", 2.0): that
    /// part's figures for the class rest on about that many cells. Null when ungrouped.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public (string Part, string ClassName, double Originals)? Thinnest =>
        EffectiveOriginalsPerPart?.Where(p => p.Key != SplitParts.Train).SelectMany(p => p.Value.Select(c => (Part: p.Key, ClassName: c.Key, Originals: c.Value)))
            .OrderBy(x => x.Originals).ThenBy(x => x.Part, StringComparer.Ordinal).ThenBy(x => x.ClassName, StringComparer.Ordinal)
            .Select(x => ((string, string, double)?)x).FirstOrDefault();
}

public sealed record SplitResult(IReadOnlyList<SplitAssignment> Assignments, SplitReport Report);
