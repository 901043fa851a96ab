using System.CommandLine;
using System.Globalization;
using WbcPortal.Services.Training;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>ensemble CV</c>: one deployable model from a finished cross-validation, its fold models averaged in one ONNX graph, calibrated on
/// the split's validation part, judged on its test part (never seen by any fold) and registered with those figures on its card.
/// </summary>
public sealed class EnsembleVerb : ICliVerb
{
    private readonly Argument<string> cv = new("CV") { Description = "A cross-validation's name or id (or one of its fold runs)" };

    public string Name => "ensemble";

    public bool WritesData => true;

    public Command CreateCommand() => new(Name, "Average a cross-validation's fold models into one deployable model, calibrated and judged on the split's own parts") { cv };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        string given = parse.GetRequiredValue(cv);
        int id = await services.GetRequiredService<CrossValidationService>().FindAsync(given, cancellationToken)
            ?? throw new CliException($"no cross-validation '{given}'", 2);
        var made = await services.GetRequiredService<CrossValidationModels>().MakeAsync(id, new WbcPortal.Services.Jobs.InlineProgress<WbcPortal.Services.Jobs.JobProgress>(p => output.Error.WriteLine(p.Text)), cancellationToken);
        var t = made.Test;
        output.WriteResult(new
        {
            model = made.Name,
            id = made.ModelId,
            onnx = made.OnnxPath,
            members = made.Members,
            temperature = made.Temperature,
            rejectThreshold = made.RejectThreshold,
            calibratedByOriginal = made.CalibratedByOriginal,
            test = new
            {
                source = made.TestSource,
                images = t.Total,
                accuracy = t.Accuracy,
                macroF1 = t.MacroF1,
                ece = t.Calibrated.Ece,
                originals = t.ByOriginal?.Originals,
                coverage = t.Coverage is { Threshold: > 0 } c ? c.AtThreshold.Coverage : (double?)null,
                selectiveAccuracy = t.Coverage is { Threshold: > 0 } s ? s.AtThreshold.Accuracy : (double?)null,
            },
            msPerImage = made.MillisecondsPerImage,
            memberMsPerImage = made.MemberMillisecondsPerImage,
        }, w => w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{made.Name}: {made.Members} fold models averaged; T {made.Temperature:0.00}, Unidentified under p {made.RejectThreshold:0.000}; {made.TestSource}: accuracy {t.Accuracy:P1}, macro-F1 {t.MacroF1:0.000}, ECE {t.Calibrated.Ece:0.000}; {made.MillisecondsPerImage:0.0} ms an image (one fold model {made.MemberMillisecondsPerImage:0.0})")));
        return 0;
    }
}
