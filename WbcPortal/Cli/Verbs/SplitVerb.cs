using System.CommandLine;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Splits;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>split DATASET --strategy random|grouped|folders --ratios 0.7,0.15,0.15 --seed N</c>: a new immutable split version,
/// leak-checked. <c>split SPLIT --check</c>: runs the independent leak check on an existing split (one made before the
/// check existed) and stores it in its report.
/// </summary>
public sealed class SplitVerb : ICliVerb
{
    private readonly Argument<string> dataset = new("DATASET") { Description = "Dataset id or name (with --check: the split's id or name)" };
    private readonly Option<string> strategy = new("--strategy") { Description = "random (leaky when copies exist), grouped (no source group on two sides) or folders (TRAIN/VAL/TEST)", DefaultValueFactory = _ => "grouped" };
    private readonly Option<string> ratios = new("--ratios") { Description = "train,val,test shares", DefaultValueFactory = _ => "0.7,0.15,0.15" };
    private readonly Option<int> seed = new("--seed") { Description = "Random seed", DefaultValueFactory = _ => 42 };
    private readonly Option<string?> name = new("--name") { Description = "Split name (default: DATASET-STRATEGY-sSEED)" };
    private readonly Option<bool> check = new("--check") { Description = "Leak-check the existing split named by the argument (an image-level near-duplicate search across its parts) and store the result; creates nothing" };
    private readonly Option<bool> carveMissing = new("--carve-missing") { Description = "folders: carve a part the dataset has no folder for (VAL, TEST) from TRAIN by source group, at --ratios; without it such a split is refused" };

    private readonly Option<string> margin = new("--margin") { Description = "grouped/folders: cautious (join doubtful copies into one group; default) or standard (the cut that best matches known originals)", DefaultValueFactory = _ => "cautious" };

    private readonly Option<bool> keepApart = new("--allow-suspects") { Description = "grouped: store the first draw even when the leak check finds suspect pairs across parts (default: their groups are kept together and the split drawn again)" };

    public string Name => "split";

    public Command CreateCommand() => new(Name, "Split a dataset into train/validation/test and print the report with each part's members") { dataset, strategy, ratios, seed, name, carveMissing, margin, keepApart, check };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var splits = services.GetRequiredService<SplitService>();
        IProgress<double> Progress(string what)
        {
            int last = -1;
            return new InlineProgress(p =>
            {
                int tenth = (int)Math.Floor(p * 10);
                if (tenth != Interlocked.Exchange(ref last, tenth)) output.Error.WriteLine($"  {what}: {tenth * 10}%");
            });
        }
        SplitSummary split;
        if (parse.GetValue(check))
        {
            split = await splits.CheckLeaksAsync(parse.GetRequiredValue(dataset), Progress("leak check"), cancellationToken);
        }
        else
        {
            if (!SplitStrategies.TryParse(parse.GetValue(strategy), out var chosen))
            {
                throw new CliException($"unknown strategy '{parse.GetValue(strategy)}': use random, grouped or folders", 2);
            }
            bool carve = parse.GetValue(carveMissing);
            if (carve && chosen != SplitStrategy.Folders) throw new CliException("--carve-missing applies to --strategy folders only", 2);
            if (!Enum.TryParse<Engine.Datasets.Grouping.GroupingMargin>(parse.GetValue(margin), ignoreCase: true, out var chosenMargin) || !Enum.IsDefined(chosenMargin))
            {
                throw new CliException($"unknown margin '{parse.GetValue(margin)}': use cautious or standard", 2);
            }
            var request = new SplitRequest(parse.GetRequiredValue(dataset), chosen, SplitRatios.Parse(parse.GetValue(ratios)!), parse.GetValue(seed), parse.GetValue(name), carve,
                chosen == SplitStrategy.Random ? null : chosenMargin, KeepSuspectsTogether: !parse.GetValue(keepApart));
            split = await splits.CreateAsync(request, Progress("grouping"), cancellationToken, Progress("leak check"));
        }
        var members = await splits.GetMembersAsync(split.Id, cancellationToken);
        var r = split.Report;
        var honesty = r.Honesty;
        var pairImages = r.LeakCheck is { } lc
            ? await splits.GetMemberImagesAsync(split.Id, lc.Pairs.SelectMany(p => new[] { p.ImageA, p.ImageB }), cancellationToken)
            : new Dictionary<int, SplitMemberImage>();
        string PathOf(int id) => pairImages.TryGetValue(id, out var image) ? image.RelativePath : id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        output.WriteResult(new
        {
            split = split.Name,
            id = split.Id,
            dataset = split.Dataset,
            strategy = r.Strategy.Name(),
            ratios = r.Ratios,
            carvedFromTrain = r.CarvedFromTrain,
            note = r.Note,
            seed = r.Seed,
            parts = r.Parts,
            groups = r.Groups,
            groupsPerPart = r.GroupsPerPart,
            groupsOnSeveralSides = r.GroupsOnSeveralSides,
            crossSplitLeaks = r.CrossSplitLeaks,
            leaky = r.Leaky,
            maxClassShareDeviation = r.MaxClassShareDeviation,
            originalsPerPart = r.OriginalsPerPart,
            effectiveOriginalsPerPart = r.EffectiveOriginalsPerPart,
            honesty = new { status = honesty.Status.ToString(), label = honesty.Label, detail = honesty.Detail },
            grouping = r.GroupingMargin is null ? null : new { margin = r.GroupingMargin, grouperVersion = r.GrouperVersion, cuts = r.GroupingCuts },
            suspectsKeptTogether = r.SuspectsKeptTogether is not { } kept ? null : new { rounds = kept.Rounds, pairs = kept.Pairs, groupsJoined = kept.GroupsJoined, stopped = kept.Stopped },
            leakCheck = r.LeakCheck is not { } leak ? null : new
            {
                method = leak.Method,
                threshold = leak.Threshold,
                imagesChecked = leak.ImagesChecked,
                heldOut = leak.HeldOut,
                heldOutFlagged = leak.HeldOutFlagged,
                suspectPairs = leak.SuspectPairs,
                seconds = leak.Seconds,
                pairs = leak.Pairs.Select(p => new { a = PathOf(p.ImageA), partA = p.PartA, b = PathOf(p.ImageB), partB = p.PartB, distance = p.Distance }),
            },
            members,
        }, w =>
        {
            w.WriteLine($"Split '{split.Name}' of '{split.Dataset}' ({r.Strategy.Name()}, {r.RatiosText}, seed {r.Seed})");
            var classes = r.Parts.Values.SelectMany(p => p.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
            w.WriteLine($"  {"part",-6} {string.Join(" ", classes.Select(c => $"{c,12}"))} {"total",8} {"groups",7}");
            foreach (var (part, counts) in r.Parts)
            {
                w.WriteLine($"  {part,-6} {string.Join(" ", classes.Select(c => $"{counts.GetValueOrDefault(c),12:N0}"))} {counts.Values.Sum(),8:N0} {r.GroupsPerPart.GetValueOrDefault(part),7:N0}");
            }
            w.WriteLine($"  source groups: {r.Groups:N0}; on more than one side: {r.GroupsOnSeveralSides:N0}; near-duplicate pairs across parts: {r.CrossSplitLeaks:N0}{(r.Leaky ? "  ** LEAKY: test figures will be optimistic **" : "")}");
            w.WriteLine($"  largest class-share gap to the whole dataset: {r.MaxClassShareDeviation:P1}");
            w.WriteLine($"  honesty: {honesty.Label}: {honesty.Detail}");
            if (r.SuspectsKeptTogether is { } keptTogether)
            {
                w.WriteLine($"  suspect pairs kept together: {keptTogether.Pairs:N0} pair(s) found by the leak check, {keptTogether.GroupsJoined:N0} group join(s), drawn again {keptTogether.Rounds} time(s){(keptTogether.Stopped is { } why ? $"; stopped: {why}" : "")}");
            }
            if (r.LeakCheck is { } leakCheck)
            {
                w.WriteLine($"  leak check ({leakCheck.Seconds:0.0} s, threshold {leakCheck.Threshold:0.00}): {leakCheck.SuspectPairs:N0} suspect pair(s) across parts; {leakCheck.HeldOutFlagged:N0} of {leakCheck.HeldOut:N0} held-out images in one");
                foreach (var p in leakCheck.Pairs.Take(10)) w.WriteLine($"    {p.Distance:0.000}  {p.PartA} {PathOf(p.ImageA)}  ~  {p.PartB} {PathOf(p.ImageB)}");
            }
            if (r.OriginalsPerPart is { } originals && r.EffectiveOriginalsPerPart is { } effective)
            {
                w.WriteLine("  originals per class (effective count in brackets: copies weighed, so stray one-image groups count little)");
                w.WriteLine($"  {"part",-6} {string.Join(" ", classes.Select(c => $"{c,12}"))}");
                foreach (var (part, counts) in originals)
                {
                    w.WriteLine($"  {part,-6} {string.Join(" ", classes.Select(c => $"{$"{counts.GetValueOrDefault(c)} ({effective[part].GetValueOrDefault(c):0.0})",12}"))}");
                }
                if (r.Thinnest is { } thin)
                {
                    w.WriteLine($"  fewest: {thin.ClassName} in {thin.Part}, about {thin.Originals:0.0} cells: its figures there rest on that many cells, however many images");
                }
            }
        });
        return 0;
    }

    private sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
