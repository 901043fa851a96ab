using System.CommandLine;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>train --split SPLIT --config FILE.json | --preset NAME</c>: trains in this process, printing progress on stderr.</summary>
public sealed class TrainVerb : ICliVerb
{
    private readonly Option<string> split = new("--split") { Description = "Split id or name", Required = true };
    private readonly Option<string?> config = new("--config") { Description = "A training configuration (JSON, as exported by the form)" };
    private readonly Option<string?> preset = new("--preset") { Description = $"A preset: {string.Join(", ", TrainingPresets.All.Keys)}" };
    private readonly Option<string?> name = new("--name") { Description = "Run name (default: SPLIT-timestamp)" };
    private readonly Option<bool> allowIncomplete = new("--allow-incomplete-split") { Description = "Train on a split with an empty validation or test part (no figures for that part); the page asks the same" };

    public string Name => "train";

    public Command CreateCommand() => new(Name, "Fine-tune the pretrained backbone on a split in two rounds, evaluate, export ONNX") { split, config, preset, name, allowIncomplete };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        string? file = parse.GetValue(config), presetName = parse.GetValue(preset);
        if ((file is null) == (presetName is null)) throw new CliException("give either --config FILE or --preset NAME", 2);
        var cfg = file is not null ? TrainingConfig.FromJson(await File.ReadAllTextAsync(file, cancellationToken)) : TrainingPresets.Get(presetName!);
        var chosen = await services.GetRequiredService<Services.Splits.SplitService>().GetAsync(parse.GetRequiredValue(split), cancellationToken);
        if (chosen.Report.EmptyParts.Count > 0 && !parse.GetValue(allowIncomplete))
        {
            // As the Training page: never a run on an incomplete split without the user saying so.
            throw new CliException($"split '{chosen.Name}' has no {string.Join(" and ", chosen.Report.EmptyParts)} part, so a run on it reports no figures there; " +
                                   "choose a split with all three parts, or pass --allow-incomplete-split", 2);
        }
        var runs = services.GetRequiredService<TrainingRunService>();
        await RunVerbs.MarkInterruptedAsync(runs, output, cancellationToken);
        var run = await runs.CreateAsync(parse.GetRequiredValue(split), cfg, parse.GetValue(name), cancellationToken);
        output.Error.WriteLine($"run {run.Id} '{run.Name}'");
        return await RunVerbs.ExecuteAndPrintAsync(runs, run.Id, output, cancellationToken);
    }
}

/// <summary><c>resume RUN</c>: continues a stopped, failed or interrupted run from its last checkpoint.</summary>
public sealed class ResumeVerb : ICliVerb
{
    private readonly Argument<string> run = new("RUN") { Description = "Run id or name" };

    public string Name => "resume";

    public Command CreateCommand() => new(Name, "Resume a stopped or interrupted run from its last checkpoint") { run };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var runs = services.GetRequiredService<TrainingRunService>();
        // This verb holds the data folder's lock: a run left Running by a killed process is resumable at once.
        await RunVerbs.MarkInterruptedAsync(runs, output, cancellationToken);
        int id = await runs.ResolveAsync(parse.GetRequiredValue(run), cancellationToken);
        return await RunVerbs.ExecuteAndPrintAsync(runs, id, output, cancellationToken, RunLifecycle.ResumableHere);
    }
}

internal static class RunVerbs
{
    public static async Task MarkInterruptedAsync(TrainingRunService runs, CliOutput output, CancellationToken cancellationToken)
    {
        int marked = await runs.MarkInterruptedAsync(cancellationToken);
        if (marked > 0) output.Error.WriteLine($"{marked} run(s) left Running by a process that stopped are marked Interrupted (resume them)");
    }

    public static async Task<int> ExecuteAndPrintAsync(TrainingRunService runs, int id, CliOutput output, CancellationToken cancellationToken, RunStatus[]? claimFrom = null)
    {
        DateTime last = DateTime.MinValue;
        using var subscription = runs.Subscribe(runId =>
        {
            if (runId != id || runs.Live(id) is not { } p || DateTime.UtcNow - last < TimeSpan.FromSeconds(10)) return;
            last = DateTime.UtcNow;
            output.Error.WriteLine(p.Phase == "training"
                ? $"  round {p.Round} epoch {p.Epoch}/{p.EpochsInRound} batch {p.Batch}/{p.Batches} loss {p.Loss:0.000} {p.ImagesPerSecond:0.0} img/s"
                : $"  evaluating: {p.Phase} {p.Batch}/{p.Batches}");
        });
        var summary = await runs.ExecuteAsync(id, null, cancellationToken, claimFrom);
        output.WriteResult(new
        {
            run = summary.Name,
            id = summary.Id,
            status = summary.Status.ToString(),
            device = summary.Device,
            seconds = Math.Round(summary.Seconds, 1),
            rounds = summary.Rounds.Select(r => new { name = r.Name, valAccuracy = r.ValAccuracy, testAccuracy = r.TestAccuracy, testMacroF1 = r.TestMacroF1 }),
            model = summary.ModelPath,
        }, w =>
        {
            w.WriteLine($"Run '{summary.Name}': {summary.Status} on {summary.Device} in {summary.Seconds / 60:0.0} min; model {summary.ModelPath}");
            w.WriteLine($"  {"stage",-10} {"val acc",8} {"test acc",9} {"test F1",8}");
            foreach (var r in summary.Rounds) w.WriteLine($"  {r.Name,-10} {r.ValAccuracy,8:P1} {r.TestAccuracy,9:P1} {r.TestMacroF1,8:0.000}");
        });
        return summary.Status == RunStatus.Succeeded ? 0 : 1;
    }
}
