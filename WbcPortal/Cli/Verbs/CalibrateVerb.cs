using System.CommandLine;
using System.Globalization;
using WbcPortal.Engine.Evaluation.Reject;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Training;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>calibrate RUN [--target-accuracy 0.97]</c>: fits the model's temperature and reject threshold again from the
/// validation predictions stored with the run, writes them into its ONNX file and rebuilds its stored reports.
/// </summary>
public sealed class CalibrateVerb : ICliVerb
{
    private readonly Argument<string> run = new("run") { Description = "Run id or name" };
    private readonly Option<double> target = new("--target-accuracy")
    {
        Description = "Accuracy the decided validation cells must reach (each original once); under the threshold that reaches it the model answers Unidentified",
        DefaultValueFactory = _ => RejectRule.DefaultTargetAccuracy,
    };

    public string Name => "calibrate";

    public Command CreateCommand() => new(Name, "Fit a model's temperature and \"Unidentified\" threshold again from its stored validation predictions") { run, target };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        int runId = await services.GetRequiredService<TrainingRunService>().ResolveAsync(parse.GetRequiredValue(run), cancellationToken);
        double accuracy = parse.GetValue(target);
        if (accuracy is < 0.5 or > 1) throw new CliException("--target-accuracy must be 0.5 to 1", 2);
        var r = await services.GetRequiredService<ModelCalibrationService>().RecalibrateAsync(runId, accuracy, cancellationToken);
        output.WriteResult(new
        {
            run = r.RunId,
            validationImages = r.ValidationImages,
            byOriginal = r.Fit.ByOriginal,
            temperature = r.Fit.Temperature,
            temperatureBefore = r.TemperatureBefore,
            rejectThreshold = r.Fit.RejectThreshold,
            rejectThresholdBefore = r.RejectThresholdBefore,
            targetAccuracy = r.Fit.TargetAccuracy,
            evaluations = r.Evaluations.Select(e => new { source = e.Source, coverage = e.AtThreshold.Coverage, accuracyOnDecided = e.AtThreshold.Accuracy, unidentified = e.AtThreshold.Total - e.AtThreshold.Decided, ece = e.Ece }),
        }, w =>
        {
            w.WriteLine(FormattableString.Invariant($"Run {r.RunId}: temperature {r.TemperatureBefore:0.000} -> {r.Fit.Temperature:0.000}, reject threshold {r.RejectThresholdBefore:0.000} -> {r.Fit.RejectThreshold:0.000} (target {r.Fit.TargetAccuracy:P1} on {r.ValidationImages} validation images{(r.Fit.ByOriginal ? ", each original once" : "")})"));
            foreach (var e in r.Evaluations)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {e.Source}: decides {e.AtThreshold.Coverage:P1} ({e.AtThreshold.Total - e.AtThreshold.Decided} unidentified), {e.AtThreshold.Accuracy:P1} right on those; ECE {e.Ece:0.000}"));
        });
        return 0;
    }
}
