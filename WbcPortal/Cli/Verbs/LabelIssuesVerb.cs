using System.CommandLine;
using WbcPortal.Services.Review;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>label-issues DATASET [--folds K] [--seed S]</c>: images and originals whose label is likely wrong, by confident learning on group-fold probabilities.</summary>
public sealed class LabelIssuesVerb : ICliVerb
{
    private readonly Argument<string> dataset = new("DATASET") { Description = "Dataset id or name" };
    private readonly Option<int> folds = new("--folds") { Description = "Group folds (3-10): no source group is scored by a head that saw it", DefaultValueFactory = _ => LabelIssueService.DefaultFolds };
    private readonly Option<int> seed = new("--seed") { Description = "Seed of the fold draw", DefaultValueFactory = _ => LabelIssueService.DefaultSeed };
    private readonly Option<string?> crossValidation = new("--cross-validation") { Description = "Use the out-of-fold predictions a finished group cross-validation of DATASET stored (fine-tuned fold models) instead of the frozen-feature head" };
    private readonly Option<string> mode = new("--mode")
    {
        Description = "auto (the default: the newest finished cross-validation of DATASET when there is one and no --folds or --seed is given, else the frozen-feature head), frozen-head, or cross-validation",
        DefaultValueFactory = _ => "auto",
    };
    private readonly Option<int> top = new("--top") { Description = "How many images and originals the text output lists", DefaultValueFactory = _ => 20 };

    public string Name => "label-issues";

    public Command CreateCommand() => new(Name, "Find images and originals whose label is likely wrong (frozen-backbone features, a linear head per group fold, confident learning), and originals filed under two classes") { dataset, folds, seed, crossValidation, mode, top };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var service = services.GetRequiredService<LabelIssueService>();
        string lastLine = "";
        var progress = new Progress<LabelIssueProgress>(p =>
        {
            string line = $"  {p.Stage}: {Math.Floor(p.Fraction * 10) * 10:0} %";
            if (line != lastLine) { lastLine = line; output.Error.WriteLine(line); }
        });
        string chosenMode = parse.GetValue(mode) ?? "auto";
        if (chosenMode is not ("auto" or "frozen-head" or "cross-validation")) throw new CliException($"--mode takes auto, frozen-head or cross-validation, not '{chosenMode}'", 2);
        string? cv = parse.GetValue(crossValidation) is { Length: > 0 } given ? given : null;
        // Folds or a seed given say which mode is wanted: the frozen-feature head draws its own folds.
        if (chosenMode == "auto" && (parse.GetResult(folds) is { Implicit: false } || parse.GetResult(seed) is { Implicit: false })) chosenMode = "frozen-head";
        if (cv is null && chosenMode != "frozen-head")
        {
            // Out-of-fold predictions of fine-tuned fold models are better features than a frozen backbone's: use them when there are some.
            cv = await service.NewestFinishedCrossValidationAsync(parse.GetRequiredValue(dataset), cancellationToken);
            if (cv is null && chosenMode == "cross-validation") throw new CliException($"dataset '{parse.GetRequiredValue(dataset)}' has no finished cross-validation", 2);
            output.Error.WriteLine(cv is null
                ? "mode: frozen-head (no finished cross-validation of this dataset; run one for better features)"
                : $"mode: the out-of-fold predictions of cross-validation '{cv}' (--mode frozen-head for the cheap mode)");
        }
        var summary = cv is not null
            ? await service.FromCrossValidationAsync(cv, cancellationToken)
            : await service.RunAsync(parse.GetRequiredValue(dataset), parse.GetValue(folds), parse.GetValue(seed), progress, cancellationToken);
        var datasets = services.GetRequiredService<Services.Datasets.DatasetService>();
        if (summary.DatasetId != (await datasets.GetAsync(parse.GetRequiredValue(dataset), cancellationToken)).Id)
            output.Error.WriteLine($"Note: the cross-validation is of dataset '{summary.Dataset}', not '{parse.GetRequiredValue(dataset)}'; its issues are stored for '{summary.Dataset}'.");
        var (_, result) = (await service.GetAsync(summary.Id, cancellationToken))!.Value;
        var report = result.Report;
        int n = Math.Max(1, parse.GetValue(top));
        var paths = await service.ImagePathsAsync(summary.DatasetId, cancellationToken);
        output.WriteResult(new
        {
            // CLI.md: every image, most likely mislabelled first; score = 1 - p(given label), higher is more suspect.
            items = report.Images.OrderBy(i => i.SelfConfidence).Select(i => new
            {
                path = paths.GetValueOrDefault(i.Id, i.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                given = report.Labels[i.Label],
                suggested = report.Labels[i.Suggested],
                score = 1 - i.SelfConfidence,
                group = i.Group,
            }),
            id = summary.Id,
            dataset = summary.Dataset,
            mode = summary.Mode,
            folds = summary.Folds,
            seed = summary.Seed,
            images = summary.Images,
            issues = summary.Issues,
            originalCount = summary.Originals,
            likelyOriginals = summary.LikelyOriginals,
            seconds = summary.Seconds,
            featureSeconds = result.FeatureSeconds,
            fitSeconds = result.FitSeconds,
            crossClassSeconds = result.CrossClassSeconds,
            outOfFoldAccuracy = report.OutOfFoldAccuracy,
            labels = report.Labels,
            thresholds = report.Thresholds,
            confidentJoint = report.ConfidentJoint,
            ranking = report.Images.Select(i => new { image = i.Id, group = i.Group, label = report.Labels[i.Label], selfConfidence = i.SelfConfidence, issue = i.Issue, suggested = report.Labels[i.Suggested] }),
            originals = report.Originals.Select(o => new { group = o.Group, label = report.Labels[o.Label], images = o.Images, issues = o.Issues, meanSelfConfidence = o.MeanSelfConfidence, suggested = report.Labels[o.Suggested], likely = o.Likely }),
            outliers = report.Outliers.Select(o => new { group = o.Group, label = report.Labels[o.Label], images = o.Images, distance = o.Distance, score = o.Score, example = o.ExampleId }),
            crossClass = result.CrossClass,
        }, w =>
        {
            w.WriteLine($"Label issues in '{summary.Dataset}' (search {summary.Id}, {summary.Folds} group folds, seed {summary.Seed}): {summary.Headline}; " +
                        $"out-of-fold accuracy {report.OutOfFoldAccuracy:P1}; {summary.Seconds:F0} s (features {result.FeatureSeconds:F0} s, heads {result.FitSeconds:F0} s, same-cell search {result.CrossClassSeconds:F0} s)");
            w.WriteLine($"Originals most likely filed under the wrong class:");
            foreach (var o in report.Originals.Take(n))
                w.WriteLine($"  group {o.Group,5} {report.Labels[o.Label],-11} {o.Images,4} images, {o.Issues,4} flagged, mean p(label) {o.MeanSelfConfidence:F3} → {report.Labels[o.Suggested]} {o.SuggestedProbability:F3}{(o.Likely ? "  LIKELY" : "")}");
            if (report.Outliers.Count > 0)
            {
                w.WriteLine("Outlier originals (unlike every other; maybe not a usable cell image):");
                foreach (var o in report.Outliers.Take(n)) w.WriteLine($"  group {o.Group,5} {report.Labels[o.Label],-11} {o.Images,4} images, score {o.Score:F1}");
            }
            if (result.CrossClass.Count > 0)
            {
                w.WriteLine("The same cell under two classes:");
                foreach (var c in result.CrossClass.Take(n)) w.WriteLine($"  group {c.GroupA} {c.ClassA} ↔ group {c.GroupB} {c.ClassB}: {c.Pairs} look-alike pairs (closest {c.Distance:F3})");
            }
            w.WriteLine($"Review them: /review?labelIssues={summary.Id}");
        });
        return 0;
    }
}
