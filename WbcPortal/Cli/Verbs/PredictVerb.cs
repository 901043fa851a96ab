using System.CommandLine;
using System.Globalization;
using WbcPortal.Services.Classify;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>predict --model RUN_OR_ONNX FILE_OR_FOLDER...</c>: classifies images with an exported model (CLI.md): per image
/// its label ("Unidentified" under the model's reject threshold), confidence and calibrated probabilities. Folders are
/// read recursively; a file that is not a readable JPEG or PNG gets an error of its own.
/// </summary>
public sealed class PredictVerb : ICliVerb
{
    private readonly Option<string> model = new("--model") { Description = "Registered model or run (id or name), or an exported .onnx file", Required = true };
    private readonly Argument<string[]> paths = new("FILE_OR_FOLDER") { Description = "Images, or folders read recursively", Arity = ArgumentArity.OneOrMore };

    public string Name => "predict";

    /// <summary>Classifying changes nothing: it runs beside a portal that holds the data folder.</summary>
    public bool WritesData => false;

    public Command CreateCommand() => new(Name, "Classify images with an exported model (\"Unidentified\" under its reject threshold)") { model, paths };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var predictions = services.GetRequiredService<PredictionService>();
        var choice = await predictions.ResolveAsync(parse.GetRequiredValue(model), allowFile: true, cancellationToken);
        var (inputs, skipped) = await ImageArguments.ReadAsync(parse.GetRequiredValue(paths), cancellationToken);
        var outcomes = new List<PredictionOutcome>();
        var progress = ImageArguments.Progress(output, inputs.Count, "images");
        // In chunks, so a folder of thousands does not hold every decoded image at once.
        PredictionBatch? batch = null;
        const int Chunk = 256;
        for (int start = 0; start < inputs.Count; start += Chunk)
        {
            var part = await predictions.PredictAsync(choice, inputs.Skip(start).Take(Chunk).ToList(), progress, cancellationToken);
            outcomes.AddRange(part.Outcomes);
            batch = part;
        }
        outcomes.AddRange(skipped.Select(s => new PredictionOutcome(s.File, null, s.Reason)));
        var result = batch! with { Outcomes = outcomes };
        // The API's answer, key for key (CLI.md): model, predictions (an answer or an error each), counts.
        output.WriteResult(Endpoints.ApiV1Endpoints.ToResponse(result), w =>
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{choice.Name}: {result.Outcomes.Count(o => o.Prediction is not null)} images classified{(result.RejectThreshold > 0 ? $", Unidentified under p {result.RejectThreshold:0.000}" : "")}"));
            foreach (var o in result.Outcomes)
            {
                w.WriteLine(o.Prediction is { } p
                    ? string.Create(CultureInfo.InvariantCulture, $"  {o.File}: {p.Answer(result.Labels)} {p.Decision.Confidence:0.000}{(p.Decision.Unidentified ? $" (guess {result.Labels[p.Decision.Predicted]})" : "")}")
                    : $"  {o.File}: error: {o.Error}");
            }
            var counts = result.Outcomes.Where(o => o.Prediction is not null).GroupBy(o => o.Prediction!.Answer(result.Labels)).OrderBy(g => g.Key, StringComparer.Ordinal);
            w.WriteLine("  counts: " + string.Join(", ", counts.Select(g => $"{g.Key} {g.Count()}")));
        });
        return 0;
    }
}
