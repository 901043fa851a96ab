using WbcPortal.Engine.Compute;
using System.CommandLine;
using Hangfire;
using WbcPortal.Engine.Training;
using WbcPortal.Services;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>train --split SPLIT --config FILE.json | --preset NAME [--folds K]</c>: trains in this process, printing progress on
/// stderr. With <c>--folds K</c>: group k-fold cross-validation over the split's train and validation parts, its K fold runs
/// one after another; the JSON adds one entry a fold and their mean and spread.
/// </summary>
public sealed class TrainVerb : ICliVerb
{
    private readonly Option<string> split = new("--split") { Description = "Split id or name", Required = true };
    private readonly Option<string?> config = new("--config") { Description = "A training configuration (JSON, as exported by the form)" };
    private readonly Option<string?> preset = new("--preset") { Description = $"A preset: {string.Join(", ", TrainingPresets.All.Keys)}" };
    private readonly Option<string?> name = new("--name") { Description = "Run name (default: SPLIT-timestamp)" };
    private readonly Option<bool> allowIncomplete = new("--allow-incomplete-split") { Description = "Train on a split with an empty validation or test part (no figures for that part); the page asks the same" };
    private readonly Option<int?> folds = new("--folds")
    {
        Description = $"Group k-fold cross-validation ({Engine.Datasets.Splitting.GroupFolds.MinFolds}-{Engine.Datasets.Splitting.GroupFolds.MaxFolds}) over the split's train and validation parts; its test part stays untouched",
    };

    private readonly Option<bool> queue = new("--queue")
    {
        Description = "Queue the run on the job queue instead of training here: the portal, or a worker on the gpu queue, takes it (JSON: runId, name, status)",
    };

    public string Name => "train";

    public Command CreateCommand() => new(Name, "Fine-tune the pretrained backbone on a split in two rounds, evaluate, export ONNX") { split, config, preset, name, allowIncomplete, folds, queue };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        string? file = parse.GetValue(config), presetName = parse.GetValue(preset);
        if ((file is null) == (presetName is null)) throw new CliException("give either --config FILE or --preset NAME", 2);
        var cfg = file is not null ? TrainingConfig.FromJson(await File.ReadAllTextAsync(file, cancellationToken)) : TrainingPresets.Get(presetName!);
        var chosen = await services.GetRequiredService<Services.Splits.SplitService>().GetAsync(parse.GetRequiredValue(split), cancellationToken);
        if (parse.GetValue(folds) is int k)
        {
            var cvRuns = services.GetRequiredService<TrainingRunService>();
            await RunVerbs.MarkInterruptedAsync(services.GetRequiredService<RunStore>(), output, cancellationToken);
            var cvs = services.GetRequiredService<CrossValidationService>();
            var cv = await cvs.CreateAsync(chosen.Name, k, cfg, name: parse.GetValue(name), cancellationToken: cancellationToken);
            output.Error.WriteLine($"cross-validation {cv.Id} '{cv.Name}': {k} folds of {chosen.Name}'s train and validation parts, one run each");
            return await CrossValidationVerbs.ExecuteAndPrintAsync(cvs, cvRuns, cv.Id, output, cancellationToken, RunLifecycle.StatusesAllowing(RunAction.Claim));
        }
        if (chosen.Report.EmptyParts.Count > 0 && !parse.GetValue(allowIncomplete))
        {
            // As the Training page: never a run on an incomplete split without the user saying so.
            throw new CliException($"split '{chosen.Name}' has no {string.Join(" and ", chosen.Report.EmptyParts)} part, so a run on it reports no figures there; " +
                                   "choose a split with all three parts, or pass --allow-incomplete-split", 2);
        }
        var runs = services.GetRequiredService<TrainingRunService>();
        if (parse.GetValue(queue))
        {
            if (parse.GetValue(folds) is not null) throw new CliException("--queue queues one run; a cross-validation's folds are queued from the Training page", 2);
            var queued = await runs.CreateAsync(parse.GetRequiredValue(split), cfg, parse.GetValue(name), cancellationToken);
            var jobs = Services.Jobs.JobHostingExtensions.CreateStorage(services.GetRequiredService<Options.StorageOptions>(),
                services.GetRequiredService<IConfiguration>().GetSection(Services.Jobs.JobsOptions.Section).Get<Services.Jobs.JobsOptions>() ?? new Services.Jobs.JobsOptions());
            new Hangfire.BackgroundJobClient(jobs).Enqueue<RunJobs>(j => j.ExecuteAsync(queued.Id, CancellationToken.None));
            output.WriteResult(new { runId = queued.Id, name = queued.Name, status = nameof(RunStatus.Queued) },
                w => w.WriteLine($"run {queued.Id} '{queued.Name}' queued: the portal or a worker on the gpu queue trains it"));
            return 0;
        }
        await RunVerbs.MarkInterruptedAsync(services.GetRequiredService<RunStore>(), output, cancellationToken);
        var run = await runs.CreateAsync(parse.GetRequiredValue(split), cfg, parse.GetValue(name), cancellationToken);
        output.Error.WriteLine($"run {run.Id} '{run.Name}'");
        return await RunVerbs.ExecuteAndPrintAsync(runs, run.Id, output, cancellationToken);
    }
}

/// <summary><c>resume RUN</c>: continues a stopped, failed or interrupted run from its last checkpoint; a cross-validation (or one of its fold runs) resumes all its unfinished folds.</summary>
public sealed class ResumeVerb : ICliVerb
{
    private readonly Argument<string> run = new("RUN") { Description = "Run id or name, or a cross-validation's name (all its unfinished folds)" };

    public string Name => "resume";

    public Command CreateCommand() => new(Name, "Resume a stopped or interrupted run from its last checkpoint") { run };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var runs = services.GetRequiredService<TrainingRunService>();
        // This verb holds the data folder's lock: a run left Running by a killed process is resumable at once.
        await RunVerbs.MarkInterruptedAsync(services.GetRequiredService<RunStore>(), output, cancellationToken);
        var cvs = services.GetRequiredService<CrossValidationService>();
        if (await cvs.FindAsync(parse.GetRequiredValue(run), cancellationToken) is int cv)
        {
            return await CrossValidationVerbs.ExecuteAndPrintAsync(cvs, runs, cv, output, cancellationToken, RunLifecycle.ResumableHere);
        }
        int id = await runs.ResolveAsync(parse.GetRequiredValue(run), cancellationToken);
        return await RunVerbs.ExecuteAndPrintAsync(runs, id, output, cancellationToken, RunLifecycle.ResumableHere);
    }
}

internal static class RunVerbs
{
    public static async Task MarkInterruptedAsync(RunStore runs, CliOutput output, CancellationToken cancellationToken)
    {
        int marked = await runs.MarkInterruptedAsync(cancellationToken);
        if (marked > 0) output.Error.WriteLine($"{marked} run(s) left Running by a process that stopped are marked Interrupted (resume them)");
    }

    /// <summary>Progress of one run on stderr, at most every 10 s, while the returned subscription lives.</summary>
    public static IDisposable ReportProgress(TrainingRunService runs, int id, CliOutput output, string prefix = "  ")
    {
        DateTime last = DateTime.MinValue;
        return runs.Progress.Subscribe(runId =>
        {
            if (runId != id || runs.Progress.Live(id) is not { } p || DateTime.UtcNow - last < TimeSpan.FromSeconds(10)) return;
            last = DateTime.UtcNow;
            output.Error.WriteLine(p.Phase == "training"
                ? $"{prefix}round {p.Round} epoch {p.Epoch}/{p.EpochsInRound} batch {p.Batch}/{p.Batches} loss {p.Loss:0.000} {p.ImagesPerSecond:0.0} img/s"
                : $"{prefix}evaluating: {p.Phase} {p.Batch}/{p.Batches}");
        });
    }

    public static async Task<int> ExecuteAndPrintAsync(TrainingRunService runs, int id, CliOutput output, CancellationToken cancellationToken, RunStatus[]? claimFrom = null)
    {
        using var subscription = ReportProgress(runs, id, output);
        var summary = await runs.ExecuteAsync(id, null, cancellationToken, claimFrom);
        var honesty = await runs.SplitHonestyAsync(summary.Id, cancellationToken);
        output.WriteResult(new
        {
            run = summary.Name,
            id = summary.Id,
            // every figure below is read through its split's honesty: leakFree, suspectPairs, leaky, leakyByDesign or unchecked
            splitHonesty = honesty is null ? null : new { status = System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(honesty.Status.ToString()), label = honesty.Label, detail = honesty.Detail },
            status = summary.Status.ToString(),
            device = summary.Device?.Name(),
            seconds = Math.Round(summary.Seconds, 1),
            rounds = summary.Rounds.Select(r => new { name = r.Name, valAccuracy = r.ValAccuracy, testAccuracy = r.TestAccuracy, testMacroF1 = r.TestMacroF1 }),
            model = summary.ModelPath,
        }, w =>
        {
            w.WriteLine($"Run '{summary.Name}': {summary.Status} on {summary.Device?.Name()} in {summary.Seconds / 60:0.0} min; model {summary.ModelPath}");
            if (honesty is { Trustworthy: false }) w.WriteLine($"  ** split {honesty.Label}: {honesty.Detail}");
            w.WriteLine($"  {"stage",-10} {"val acc",8} {"test acc",9} {"test F1",8}");
            foreach (var r in summary.Rounds) w.WriteLine($"  {r.Name,-10} {r.ValAccuracy,8:P1} {r.TestAccuracy,9:P1} {r.TestMacroF1,8:0.000}");
        });
        return summary.Status == RunStatus.Succeeded ? 0 : 1;
    }
}

internal static class CrossValidationVerbs
{
    /// <summary>
    /// Trains the cross-validation's unfinished folds one after another in this process (a failed fold is reported and the
    /// next one goes on; a stop ends them all), then prints the usual run JSON for the whole (mean rounds), plus the folds,
    /// their mean and spread. Exit 0 when every fold succeeded.
    /// </summary>
    public static async Task<int> ExecuteAndPrintAsync(CrossValidationService cvs, TrainingRunService runs, int cvId, CliOutput output, CancellationToken cancellationToken, RunStatus[] claimFrom)
    {
        var foldRuns = await cvs.FoldRunsAsync(cvId, cancellationToken);
        foreach (var (fold, runId, status) in foldRuns)
        {
            if (status == RunStatus.Succeeded) continue;
            if (Array.IndexOf(claimFrom, status) < 0)
            {
                output.Error.WriteLine($"fold {fold}/{foldRuns.Count}: run {runId} is {status}; skipped");
                continue;
            }
            output.Error.WriteLine($"fold {fold}/{foldRuns.Count}: run {runId}");
            using var subscription = RunVerbs.ReportProgress(runs, runId, output, $"  fold {fold}/{foldRuns.Count} ");
            try
            {
                var summary = await runs.ExecuteAsync(runId, null, cancellationToken, claimFrom);
                var test = summary.Rounds.LastOrDefault();
                output.Error.WriteLine($"fold {fold}/{foldRuns.Count}: {summary.Status}, test accuracy {test?.TestAccuracy:P1}");
            }
            catch (Exception ex) when (ex is not OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                output.Error.WriteLine($"fold {fold}/{foldRuns.Count}: failed: {UserFacingError.Describe(ex)}");
            }
        }

        var cv = await cvs.GetAsync(cvId, cancellationToken);
        var rounds = new List<object>();
        var summaries = new List<RunSummary>();
        foreach (var f in cv.FoldRuns) summaries.Add(await runs.GetSummaryAsync(f.RunId, cancellationToken));
        foreach (var stage in summaries.SelectMany(s => s.Rounds.Select(r => r.Name)).Distinct())
        {
            var of = summaries.Select(s => s.Rounds.FirstOrDefault(r => r.Name == stage)).OfType<RunRoundSummary>().ToList();
            static double? Mean(IEnumerable<double?> v) => v.OfType<double>().DefaultIfEmpty(double.NaN).Average() is var m && double.IsNaN(m) ? null : m;
            rounds.Add(new { name = stage, valAccuracy = Mean(of.Select(r => r.ValAccuracy)), testAccuracy = Mean(of.Select(r => r.TestAccuracy)), testMacroF1 = Mean(of.Select(r => r.TestMacroF1)) });
        }
        static object Stat(FoldStatistic s) => new { accuracy = s.Accuracy, macroF1 = s.MacroF1, perClassRecall = s.PerClassRecall, ece = s.Ece, originalsAccuracy = s.OriginalsAccuracy };
        output.WriteResult(new
        {
            run = cv.Name,
            id = cv.Id,
            status = cv.Status.ToString(),
            device = cv.Device?.Name(),
            seconds = Math.Round(cv.Seconds, 1),
            rounds,
            model = (string?)null,
            crossValidation = cv.Name,
            sourceSplit = cv.SourceSplit,
            k = cv.Folds,
            seed = cv.Seed,
            folds = cv.FoldRuns.Select(f => new
            {
                fold = f.Fold,
                run = f.RunName,
                split = f.Split,
                splitHonesty = f.Honesty is { } h ? new { status = System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(h.Status.ToString()), label = h.Label } : null,
                status = f.Status.ToString(),
                error = f.Error,
                accuracy = f.Figures?.Accuracy,
                macroF1 = f.Figures?.MacroF1,
                perClassRecall = f.Figures?.PerClassRecall,
                ece = f.Figures?.Ece,
                originalsAccuracy = f.Figures?.OriginalsAccuracy,
                originalsRight = f.Figures?.OriginalsRight,
                testImages = f.Figures?.TestImages,
                testOriginals = f.Figures?.Originals,
            }),
            mean = Stat(cv.Mean),
            spread = Stat(cv.Spread),
            // a fold whose run was deleted: the cross-validation reads incomplete and its mean is not final
            statusText = cv.StatusText,
            incomplete = cv.Incomplete,
            deletedFolds = cv.DeletedFolds.Select(f => new { fold = f.Fold, run = f.Run, at = f.At, by = f.By }),
            meanFinal = cv.MeanIsFinal,
        }, w =>
        {
            w.WriteLine($"Cross-validation '{cv.Name}': {cv.StatusText}, {cv.Folds} folds of {cv.SourceSplit} (train and validation parts; its test part untouched), {cv.Seconds / 60:0.0} min");
            foreach (var deleted in cv.DeletedFolds) w.WriteLine($"  ** {deleted.Describe()}: the mean below is over the other folds and not final");
            w.WriteLine($"  {"fold",-5} {"status",-11} {"test acc",9} {"macro-F1",9} {"ECE",7} {"originals",10}");
            foreach (var f in cv.FoldRuns)
            {
                w.WriteLine($"  {f.Fold,-5} {f.Status,-11} {f.Figures?.Accuracy,9:P1} {f.Figures?.MacroF1,9:0.000} {f.Figures?.Ece,7:0.000} {(f.Figures is { Originals: int n } x ? $"{x.OriginalsRight}/{n}" : ""),10}");
            }
            w.WriteLine($"  {"mean",-5} {(cv.MeanIsFinal ? "" : "not final"),-11} {cv.Mean.Accuracy,9:P1} {cv.Mean.MacroF1,9:0.000} {cv.Mean.Ece,7:0.000} {cv.Mean.OriginalsAccuracy,10:P1}");
            w.WriteLine($"  {"sd",-5} {"",-11} {cv.Spread.Accuracy,9:P1} {cv.Spread.MacroF1,9:0.000} {cv.Spread.Ece,7:0.000} {cv.Spread.OriginalsAccuracy,10:P1}");
        });
        if (cv.Incomplete) output.Error.WriteLine($"cross-validation '{cv.Name}' is {cv.StatusText}: it cannot be completed; its mean is not final");
        return cv.Status == RunStatus.Succeeded && !cv.Incomplete ? 0 : 1;
    }
}
