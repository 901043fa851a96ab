using WbcPortal.Engine.Datasets.Splitting;

namespace WbcPortal.Engine.Evaluation;

/// <summary>What kind of images a model evaluation ran on.</summary>
public enum EvaluationSourceKind
{
    /// <summary>A part of a split.</summary>
    Split,
    /// <summary>A folder of class folders on the server, never imported.</summary>
    Folder,
    /// <summary>A zip of class folders uploaded for the evaluation.</summary>
    Zip,
}

/// <summary>
/// What a model evaluation ran on: a split's part (<see cref="Name"/> the split, <see cref="Part"/> train/val/test), a server folder
/// (<see cref="Name"/> its full path) or an uploaded zip (<see cref="Name"/> its file name); <see cref="Flips"/> says the evaluation
/// overrode the model's flip averaging (null: the model's own). <see cref="ToString"/> is the printed form the CLI's JSON and the pages
/// show ("split NAME / PART", "folder PATH", "zip NAME", then " (flips on)" or " (flips off)"), and <see cref="TryParse"/> reads it back.
/// </summary>
public sealed record EvaluationSource
{
    private EvaluationSource(EvaluationSourceKind kind, string name, SplitPart? part, bool? flips)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("An evaluation source needs a name.", nameof(name));
        if ((kind == EvaluationSourceKind.Split) != (part is not null)) throw new ArgumentException("A split source has a part; a folder or zip has none.", nameof(part));
        if (part is { } p && !Enum.IsDefined(p)) throw new ArgumentException($"Unknown part '{p}'; use train, val or test.", nameof(part));
        Kind = kind;
        Name = name;
        Part = part;
        Flips = flips;
    }

    public EvaluationSourceKind Kind { get; }
    /// <summary>The split's name, the folder's full path or the zip's file name.</summary>
    public string Name { get; }
    /// <summary>The split's part, for a split source only.</summary>
    public SplitPart? Part { get; }
    /// <summary>Whether the evaluation forced flip averaging on or off; null when it used the model's own setting.</summary>
    public bool? Flips { get; }

    public static EvaluationSource Split(string split, SplitPart part) => new(EvaluationSourceKind.Split, split, part, null);
    public static EvaluationSource Folder(string path) => new(EvaluationSourceKind.Folder, path, null, null);
    public static EvaluationSource Zip(string name) => new(EvaluationSourceKind.Zip, name, null, null);

    /// <summary>The source as stored: throws where the parts do not make a source (a split without a part, an empty name).</summary>
    public static EvaluationSource Of(EvaluationSourceKind kind, string name, SplitPart? part, bool? flips) => new(kind, name, part, flips);

    /// <summary>The same images, evaluated with flip averaging forced on or off.</summary>
    public EvaluationSource WithFlips(bool flips) => new(Kind, Name, Part, flips);

    /// <summary>The stored and printed name of a kind: "split", "folder", "zip".</summary>
    public static string KindName(EvaluationSourceKind kind) => kind switch
    {
        EvaluationSourceKind.Split => "split",
        EvaluationSourceKind.Folder => "folder",
        EvaluationSourceKind.Zip => "zip",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static EvaluationSourceKind ParseKind(string name) => name switch
    {
        "split" => EvaluationSourceKind.Split,
        "folder" => EvaluationSourceKind.Folder,
        "zip" => EvaluationSourceKind.Zip,
        _ => throw new FormatException($"Unknown evaluation source kind '{name}'; expected split, folder or zip."),
    };

    private const string FlipsOn = " (flips on)", FlipsOff = " (flips off)";

    public override string ToString()
    {
        string what = Kind == EvaluationSourceKind.Split ? $"split {Name} / {Part!.Value.Name()}" : $"{KindName(Kind)} {Name}";
        return Flips switch { true => what + FlipsOn, false => what + FlipsOff, null => what };
    }

    /// <summary>Reads the printed form back (what older databases stored, and what an older queued job carries).</summary>
    public static bool TryParse(string? text, out EvaluationSource? source)
    {
        source = null;
        if (string.IsNullOrEmpty(text)) return false;
        bool? flips = null;
        if (text.EndsWith(FlipsOn, StringComparison.Ordinal)) { flips = true; text = text[..^FlipsOn.Length]; }
        else if (text.EndsWith(FlipsOff, StringComparison.Ordinal)) { flips = false; text = text[..^FlipsOff.Length]; }
        int space = text.IndexOf(' ');
        if (space <= 0 || space == text.Length - 1) return false;
        string rest = text[(space + 1)..];
        switch (text[..space])
        {
            case "split":
                int slash = rest.LastIndexOf(" / ", StringComparison.Ordinal);
                if (slash <= 0 || !SplitParts.TryParse(rest[(slash + 3)..], out var part)) return false;
                source = new(EvaluationSourceKind.Split, rest[..slash], part, flips);
                return true;
            case "folder":
                source = new(EvaluationSourceKind.Folder, rest, null, flips);
                return true;
            case "zip":
                source = new(EvaluationSourceKind.Zip, rest, null, flips);
                return true;
            default:
                return false;
        }
    }

    public static EvaluationSource Parse(string text) =>
        TryParse(text, out var source) ? source! : throw new FormatException($"'{text}' is not an evaluation source (split NAME / PART, folder PATH or zip NAME).");
}
