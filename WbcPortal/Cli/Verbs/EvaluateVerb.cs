using System.CommandLine;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Training;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>evaluate --run RUN (--split SPLIT [--part test] | --folder PATH)</c>: the run's exported model on a split part
/// or on class folders never imported; stored with the run, so the dashboard lists it with the same figures.
/// </summary>
public sealed class EvaluateVerb : ICliVerb
{
    private readonly Option<string> run = new("--run") { Description = "Run id or name", Required = true };
    private readonly Option<string?> split = new("--split") { Description = "Split id or name" };
    private readonly Option<string> part = new("--part") { Description = "train, val or test", DefaultValueFactory = _ => "test" };
    private readonly Option<string?> folder = new("--folder") { Description = "A folder of class folders (not imported)" };
    private readonly Option<string?> tta = new("--tta") { Description = "on or off: override the model's test-time flips (to measure them)" };

    public string Name => "evaluate";

    public Command CreateCommand() => new(Name, "Evaluate a run's exported model on a split part or a folder of class folders") { run, split, part, folder, tta };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        string? splitName = parse.GetValue(split), folderPath = parse.GetValue(folder);
        if ((splitName is null) == (folderPath is null)) throw new CliException("give either --split SPLIT [--part PART] or --folder PATH", 2);
        int runId = await services.GetRequiredService<TrainingRunService>().ResolveAsync(parse.GetRequiredValue(run), cancellationToken);
        EvaluationTarget target = splitName is not null ? EvaluationTarget.OfSplit(splitName, parse.GetRequiredValue(part)) : new EvaluationTarget.Folder(folderPath!);
        var last = DateTime.MinValue;
        var progress = new Progress<(int Done, int Total)>(p =>
        {
            if (DateTime.UtcNow - last < TimeSpan.FromSeconds(5) && p.Done < p.Total) return;
            last = DateTime.UtcNow;
            output.Error.WriteLine($"  {p.Done}/{p.Total} images");
        });
        bool? flips = parse.GetValue(tta) switch
        {
            null => null,
            "on" => true,
            "off" => false,
            var other => throw new CliException($"--tta takes on or off, not '{other}'", 2),
        };
        var result = await services.GetRequiredService<EvaluationService>().EvaluateAsync(runId, target, progress, cancellationToken, flips);
        output.WriteResult(ToJson(result), w => WriteHuman(w, result));
        return 0;
    }

    /// <summary>The CLI.md shape (accuracy, macroF1, ece, perClass, confusion) plus the intervals and calibration details.</summary>
    public static object ToJson(EvaluationResult result)
    {
        var r = result.Report;
        return new
        {
            evaluation = result.EvaluationId,
            run = result.RunId,
            source = result.Source.ToString(),
            images = r.Total,
            accuracy = r.Accuracy,
            accuracyCi95 = new[] { r.AccuracyCi.Low, r.AccuracyCi.High },
            macroF1 = r.MacroF1,
            weightedF1 = r.WeightedF1,
            ece = r.Calibrated.Ece,
            eceUncalibrated = r.Uncalibrated.Ece,
            temperature = r.Temperature,
            meanConfidence = r.Calibrated.MeanConfidence,
            // CLI.md: a model with a reject threshold adds coverage (share decided) and selectiveAccuracy (accuracy on those).
            coverage = r.Coverage is { Threshold: > 0 } cov ? cov.AtThreshold.Coverage : (double?)null,
            selectiveAccuracy = r.Coverage is { Threshold: > 0 } sel ? sel.AtThreshold.Accuracy : (double?)null,
            unidentified = r.Coverage is not { } c ? null : new
            {
                threshold = c.Threshold,
                coverage = c.AtThreshold.Coverage,
                accuracyOnDecided = c.AtThreshold.Accuracy,
                images = c.AtThreshold.Total - c.AtThreshold.Decided,
                perClass = r.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => c.UnidentifiedByClass[x.i]),
            },
            perClass = r.PerClass.ToDictionary(c => c.Label, c => new { precision = c.Precision, recall = c.Recall, recallCi95 = new[] { c.RecallCi.Low, c.RecallCi.High }, f1 = c.F1, support = c.Support }),
            confusion = new { labels = r.Labels, matrix = r.Confusion },
            originals = r.ByOriginal is not { } o ? null : new
            {
                count = o.Originals,
                perClass = r.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => new { originals = o.OriginalsPerClass[x.i], recallCi95 = new[] { o.RecallCi[x.i].Low, o.RecallCi[x.i].High } }),
                accuracyCi95 = new[] { o.AccuracyCi.Low, o.AccuracyCi.High },
                eceCi95 = new[] { o.EceCi.Low, o.EceCi.High },
                mistaken = o.Mistaken.Count,
                topFiveErrorShare = o.TopFiveErrorShare,
            },
            rejected = result.Rejected.Select(x => new { file = x.File, reason = x.Reason }),
        };
    }

    private static void WriteHuman(TextWriter w, EvaluationResult result)
    {
        var r = result.Report;
        w.WriteLine($"Evaluation {result.EvaluationId} of run {result.RunId} on {result.Source}: {r.Total} images");
        w.WriteLine($"  {"class",-12} {"precision",9} {"recall",7} {"recall 95% CI",15} {"f1",6} {"support",7}");
        foreach (var c in r.PerClass) w.WriteLine($"  {c.Label,-12} {c.Precision,9:0.000} {c.Recall,7:0.000} {$"{c.RecallCi.Low:0.000}-{c.RecallCi.High:0.000}",15} {c.F1,6:0.000} {c.Support,7}");
        w.WriteLine($"  accuracy {r.Accuracy:0.000} (95% Wilson {r.AccuracyCi.Low:0.000}-{r.AccuracyCi.High:0.000}), macro F1 {r.MacroF1:0.000}, weighted F1 {r.WeightedF1:0.000}");
        if (r.ByOriginal is { } o)
        {
            w.WriteLine($"  {o.Originals} source originals: accuracy 95% interval by resampling originals {o.AccuracyCi.Low:0.000}-{o.AccuracyCi.High:0.000}"
                + $", calibrated ECE {o.EceCi.Low:0.000}-{o.EceCi.High:0.000}; "
                + $"{o.Mistaken.Count} originals have errors, the worst 5 hold {o.TopFiveErrorShare:P0} of them");
            foreach (var m in o.Mistaken.Take(5))
                w.WriteLine($"    group {m.Group?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"}: {r.Labels[m.Label]}, {m.Errors}/{m.Images} wrong{(m.CalledInstead is { } other ? $", mostly called {r.Labels[other]} instead" : "")}");
        }
        w.WriteLine($"  ECE {r.Uncalibrated.Ece:0.000} raw -> {r.Calibrated.Ece:0.000} at temperature {r.Temperature:0.00}; "
            + $"calibrated mean confidence {r.Calibrated.MeanConfidence:0.000} beside accuracy {r.Accuracy:0.000}");
        if (r.Coverage is { Threshold: > 0 } coverage)
        {
            w.WriteLine($"  Unidentified under p {coverage.Threshold:0.000}: {coverage.AtThreshold.Total - coverage.AtThreshold.Decided} images; decides {coverage.AtThreshold.Coverage:P1} and is right on {coverage.AtThreshold.Accuracy:P1} of those");
        }
        foreach (var (file, reason) in result.Rejected) w.WriteLine($"  skipped {file}: {reason}");
    }
}
