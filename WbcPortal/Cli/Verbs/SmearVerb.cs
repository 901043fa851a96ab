using System.CommandLine;
using System.Globalization;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Smears;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>smear --model RUN_OR_ONNX FILE_OR_FOLDER...</c>: finds every white cell of each smear image and classifies it (CLI.md):
/// boxes in the image's own pixels, label ("Unidentified" under the model's threshold, with its guess), confidence, edge flag,
/// and the differential count of all the smears given, each class's percentage with its exact 95 % interval.
/// </summary>
public sealed class SmearVerb : ICliVerb
{
    private readonly Option<string> model = new("--model") { Description = "Registered model or run (id or name), or an exported .onnx file", Required = true };
    private readonly Argument<string[]> paths = new("FILE_OR_FOLDER") { Description = "Smear images, or folders read recursively", Arity = ArgumentArity.OneOrMore };

    public string Name => "smear";

    /// <summary>Reading smears changes nothing: it runs beside a portal that holds the data folder.</summary>
    public bool WritesData => false;

    public Command CreateCommand() => new(Name, "Find and classify every white cell of smear images; the differential count") { model, paths };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var choice = await services.GetRequiredService<PredictionService>().ResolveAsync(parse.GetRequiredValue(model), allowFile: true, cancellationToken);
        var (inputs, skipped) = await ImageArguments.ReadAsync(parse.GetRequiredValue(paths), cancellationToken);
        var smears = services.GetRequiredService<SmearService>();
        var progress = ImageArguments.Progress(output, inputs.Count, "smears");
        var images = new List<SmearImageResult>();
        SmearBatch? batch = null;
        const int Chunk = 64;
        for (int start = 0; start < inputs.Count; start += Chunk)
        {
            batch = await smears.AnalyzeAsync(choice, inputs.Skip(start).Take(Chunk).ToList(), progress, cancellationToken);
            images.AddRange(batch.Images);
        }
        images.AddRange(skipped.Select(s => SmearImageResult.Failed(s.File, s.Reason)));
        var result = batch! with { Images = images };
        var count = result.Count();
        output.WriteResult(result.Json(), w =>
        {
            w.WriteLine($"{choice.Name}: {images.Count(i => i.Error is null)} smears, {count.Cells} white cells ({count.Unidentified} unidentified, {count.EdgeCells} cut by the border)");
            foreach (var i in images)
            {
                if (i.Error is not null) { w.WriteLine($"  {i.File}: error: {i.Error}"); continue; }
                w.WriteLine($"  {i.File}: {(i.SingleCellCrop ? "single-cell image: " : "")}{(i.Cells.Count == 0 ? "no white cell found" : string.Join("; ", i.Cells.Select(c =>
                    string.Create(CultureInfo.InvariantCulture, $"{c.Label} {c.Confidence:0.00}{(c.Guess is { } g ? $" (guess {g})" : "")} at [{string.Join(",", c.Box)}]{(c.Edge ? " edge" : "")}"))))}");
            }
            w.WriteLine("  differential (of identified cells, 95 % interval):");
            foreach (var c in count.Classes)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {c.Label,-14} {c.Count,4}  {c.Percent,5:0.0} %  ({c.LowPercent:0.0}-{c.HighPercent:0.0})"));
        });
        return 0;
    }
}
