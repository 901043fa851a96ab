namespace WbcPortal.Engine.Datasets.Splitting;

public enum SplitStrategy
{
    /// <summary>Stratified by class, image by image (the study's way). Leaky when images are copies of shared originals.</summary>
    Random,
    /// <summary>Stratified by class, source group by source group: no group on two sides.</summary>
    Grouped,
    /// <summary>Keeps the dataset's own TRAIN / VAL / TEST folders; a missing part is refused unless asked to carve it from TRAIN by group.</summary>
    Folders,
}

/// <summary>The one mapping of <see cref="SplitStrategy"/> to and from its stored and printed name ("random", "grouped", "folders").</summary>
public static class SplitStrategies
{
    public static string Name(this SplitStrategy strategy) => strategy switch
    {
        SplitStrategy.Random => "random",
        SplitStrategy.Grouped => "grouped",
        SplitStrategy.Folders => "folders",
        _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, null),
    };

    /// <summary>The strategy named <paramref name="name"/>, in any case (people type it).</summary>
    public static bool TryParse(string? name, out SplitStrategy strategy)
    {
        foreach (var s in Enum.GetValues<SplitStrategy>())
        {
            if (string.Equals(Name(s), name?.Trim(), StringComparison.OrdinalIgnoreCase)) { strategy = s; return true; }
        }
        strategy = default;
        return false;
    }

    public static SplitStrategy Parse(string name) =>
        TryParse(name, out var strategy) ? strategy : throw new FormatException($"Unknown split strategy '{name}'; expected random, grouped or folders.");
}

/// <summary>Writes a <see cref="SplitStrategy"/> as its name ("grouped") in JSON, and reads it back.</summary>
public sealed class SplitStrategyNameConverter : System.Text.Json.Serialization.JsonConverter<SplitStrategy>
{
    public override SplitStrategy Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        SplitStrategies.TryParse(reader.GetString(), out var strategy) ? strategy : throw new System.Text.Json.JsonException($"Unknown split strategy '{reader.GetString()}'.");

    public override void Write(System.Text.Json.Utf8JsonWriter writer, SplitStrategy value, System.Text.Json.JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}

/// <summary>A part of a split: the images a model trains on, the validation images it is tuned and calibrated on, the test images it is judged on.</summary>
public enum SplitPart
{
    Train,
    Validation,
    Test,
}

/// <summary>
/// The one mapping of <see cref="SplitPart"/> to and from its stored and printed name ("train", "val", "test"). The string constants
/// <see cref="Train"/>, <see cref="Val"/>, <see cref="Test"/> and <see cref="All"/> are those names, kept for what is keyed by them
/// (the split report's per-part dictionaries, which are the CLI's and the API's JSON).
/// </summary>
public static class SplitParts
{
    public const string Train = "train";
    public const string Val = "val";
    public const string Test = "test";
    /// <summary>The names, in train, val, test order (the keys of the split report's dictionaries).</summary>
    public static IReadOnlyList<string> All { get; } = [Train, Val, Test];
    /// <summary>The parts, in train, validation, test order.</summary>
    public static IReadOnlyList<SplitPart> Values { get; } = [SplitPart.Train, SplitPart.Validation, SplitPart.Test];

    public static string Name(this SplitPart part) => part switch
    {
        SplitPart.Train => Train,
        SplitPart.Validation => Val,
        SplitPart.Test => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(part), part, null),
    };

    /// <summary>For people: "train", "validation", "test".</summary>
    public static string Title(this SplitPart part) => part == SplitPart.Validation ? "validation" : part.Name();

    public static bool TryParse(string? name, out SplitPart part)
    {
        foreach (var p in Values)
        {
            if (string.Equals(Name(p), name, StringComparison.Ordinal)) { part = p; return true; }
        }
        part = default;
        return false;
    }

    public static SplitPart Parse(string name) =>
        TryParse(name, out var part) ? part : throw new FormatException($"Unknown part '{name}'; use train, val or test.");
}

/// <summary>Part shares; each must be above 0 (every split has train, validation and test) and they sum to 1 (within rounding).</summary>
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
        if (Train <= 0 || Val <= 0 || Test <= 0) throw new ArgumentException("Ratios: train, validation and test must each be above 0; a split without one of them gives a run no honest figures.");
        if (Math.Abs(Train + Val + Test - 1) > 0.011) throw new ArgumentException($"Ratios must sum to 1; they sum to {Train + Val + Test:0.###}.");
    }

    public override string ToString() => FormattableString.Invariant($"{Train:0.###},{Val:0.###},{Test:0.###}");
}

/// <summary>An image to place: its id, class, source group (unique per image when ungrouped) and outer folder.</summary>
public sealed record SplitItem(int Id, string ClassName, int Group, string? FolderPart);

public sealed record SplitAssignment(int Id, string Part);

public sealed record SplitReport(
    [property: System.Text.Json.Serialization.JsonConverter(typeof(SplitStrategyNameConverter))] SplitStrategy Strategy,
    /// <summary>The part shares used; null where they do not apply (the folders strategy keeping the dataset's own parts).</summary>
    string? Ratios,
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
    /// <summary>Folders strategy: the parts carved from TRAIN by source group because the dataset had no folder for them.</summary>
    public IReadOnlyList<string>? CarvedFromTrain { get; init; }

    /// <summary>How the parts were made, for people, where the strategy's name does not say it all (folders, carved).</summary>
    public string? Note { get; init; }

    /// <summary>The margin the source groups were cut at ("standard" or "cautious"; null without groups), the grouper version, and
    /// what each margin gives on this dataset: the cost of joining when in doubt (fewer, larger groups).</summary>
    public string? GroupingMargin { get; init; }
    public string? GrouperVersion { get; init; }
    public IReadOnlyList<SplitGroupingCut>? GroupingCuts { get; init; }

    /// <summary>The independent cross-part near-duplicate search (null: not run, e.g. a split made before it existed).</summary>
    public LeakCheckReport? LeakCheck { get; init; }

    /// <summary>Where the leak check found suspect pairs in a first draw and their groups were kept together for a new draw (null: not
    /// needed, or not asked for). <see cref="LeakCheck"/> is always the check of the split as stored.</summary>
    public SuspectsKeptTogether? SuspectsKeptTogether { get; init; }

    /// <summary>Leak-free, suspect pairs, leaky or leaky by design: what every figure of this split is labelled with.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public SplitHonesty Honesty => SplitHonesty.Of(this);

    /// <summary>The parts that hold no image (a split made before empty parts were refused): train, val, test order.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> EmptyParts => Parts is null // a report that recorded no parts: nothing to say
        ? []
        : SplitParts.All.Where(p => Parts.GetValueOrDefault(p) is not { Count: > 0 } c || c.Values.Sum() == 0).ToList();

    /// <summary>The ratios as people should read them: the shares, or what the parts are where ratios do not apply.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string RatiosText => Strategy == SplitStrategy.Folders
        ? CarvedFromTrain is { Count: > 0 } carved
            ? $"own folders; {string.Join(", ", carved)} carved from TRAIN at {Ratios}"
            : "the dataset's own folders"
        : Ratios ?? "";

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

/// <summary>Groups and largest group (images) at one grouping margin.</summary>
public sealed record SplitGroupingCut(string Margin, int Groups, int LargestGroup);

public sealed record SplitResult(IReadOnlyList<SplitAssignment> Assignments, SplitReport Report);

/// <summary>
/// How a grouped split kept the leak check's suspect pairs together: <paramref name="Rounds"/> draws after the first, each after
/// joining the source groups of every pair the check found (across classes too: the same cell filed under two classes);
/// <paramref name="Pairs"/> pairs acted on in all, <paramref name="GroupsJoined"/> joins of two groups. <paramref name="Stopped"/>:
/// why it stopped before the check came back clean (null when it did).
/// </summary>
public sealed record SuspectsKeptTogether(int Rounds, int Pairs, int GroupsJoined, string? Stopped = null)
{
    /// <summary>One image pair (dataset image ids) per join made: what joined the groups. Cross-validation folds dealt from this split
    /// join the same groups, so that a fold does not separate what the split kept together.</summary>
    public IReadOnlyList<IReadOnlyList<int>> Joins { get; init; } = [];

    /// <summary><paramref name="items"/> with the groups of every join's two images made one (items whose images it does not hold are left).</summary>
    public IReadOnlyList<SplitItem> Apply(IReadOnlyList<SplitItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var groupOf = items.GroupBy(i => i.Id).ToDictionary(g => g.Key, g => g.First().Group);
        var parent = groupOf.Values.Distinct().ToDictionary(g => g, g => g);
        int Find(int g) { while (parent[g] != g) g = parent[g] = parent[parent[g]]; return g; }
        foreach (var join in Joins)
        {
            if (join.Count != 2 || !groupOf.TryGetValue(join[0], out int a) || !groupOf.TryGetValue(join[1], out int b)) continue;
            int ra = Find(a), rb = Find(b);
            if (ra != rb) parent[Math.Max(ra, rb)] = Math.Min(ra, rb);
        }
        return items.Select(i => i with { Group = Find(i.Group) }).ToList();
    }
}
