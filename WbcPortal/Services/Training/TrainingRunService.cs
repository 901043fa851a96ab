using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>Live numbers of a running run (not persisted: epochs are). Where a running run is. <paramref name="Phase"/>: "training", or what is being evaluated ("features", "untrained", "round1", "round2", "model val", "model test"), with Batch/Batches its progress.</summary>
public sealed record RunLiveProgress(int Round, int Epoch, int EpochsInRound, int Batch, int Batches, double Loss, double ImagesPerSecond, DateTimeOffset At, string Phase = "training");

public sealed record RunRoundSummary(string Name, double? ValAccuracy, double? TestAccuracy, double? TestMacroF1);

public sealed record RunSummary(int Id, string Name, RunStatus Status, string? Device, double Seconds, IReadOnlyList<RunRoundSummary> Rounds, string? ModelPath, string? Error);

/// <summary>
/// Creates runs, executes them (from a background job or the CLI) and records everything on the way:
/// epochs, round evaluations, the exported model. A run that stopped (Stop, crash, shutdown) resumes
/// from its last checkpoint.
/// </summary>
public sealed class TrainingRunService(
    IDbContextFactory<WbcDbContext> contexts,
    Trainer trainer,
    ClassifierOnnxExporter exporter,
    Engine.Datasets.Storage.ImageStore store,
    StorageOptions storage,
    TimeProvider clock,
    RunChanges changes,
    Evaluation.EvaluationService evaluations,
    Engine.Compute.TorchRuntime runtime,
    ILogger<TrainingRunService> logger)
{
    private readonly ConcurrentDictionary<int, RunLiveProgress> live = new();

    /// <summary>A Running run that has not reported for this long belongs to a process that is gone.</summary>
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromMinutes(2);

    private TimeProvider Clock => clock;
    private IDbContextFactory<WbcDbContext> Contexts => contexts;

    public RunLiveProgress? Live(int runId) => live.GetValueOrDefault(runId);

    /// <summary>Called (from a background thread) with a run id whenever that run changes; dispose to stop.</summary>
    public IDisposable Subscribe(Action<int> onChange) => changes.Subscribe(onChange);

    public async Task<Run> CreateAsync(string splitIdOrName, TrainingConfig config, string? name = null, CancellationToken cancellationToken = default)
    {
        config.Validate();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var split = await db.Splits.AsNoTracking().SingleOrDefaultAsync(s => s.Name == splitIdOrName || s.Id.ToString() == splitIdOrName, cancellationToken)
            ?? throw new ArgumentException($"No split '{splitIdOrName}'.");
        var now = clock.GetUtcNow();
        string runName = string.IsNullOrWhiteSpace(name) ? $"{split.Name}-{now:yyyyMMdd-HHmmss}" : name.Trim();
        if (await db.Runs.AnyAsync(r => r.Name == runName, cancellationToken)) throw new ArgumentException($"A run named '{runName}' exists already.");
        var run = new Run
        {
            Name = runName,
            SplitId = split.Id,
            ConfigJson = config.ToJson(),
            Status = RunStatus.Queued,
            Seed = config.Seed,
            CreatedAt = now,
            CheckpointDirectory = "",
        };
        db.Runs.Add(run);
        await db.SaveChangesAsync(cancellationToken);
        run.CheckpointDirectory = Path.Combine("runs", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "checkpoints");
        await db.SaveChangesAsync(cancellationToken);
        return run;
    }

    /// <summary>Marks runs left Running by a process that is gone (stale heartbeat) as Interrupted. Call at start-up.</summary>
    public async Task<int> MarkInterruptedAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var stale = clock.GetUtcNow() - HeartbeatTimeout;
        return await db.Runs.Where(r => r.Status == RunStatus.Running && (r.HeartbeatAt == null || r.HeartbeatAt < stale))
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RunStatus.Interrupted).SetProperty(r => r.Error, "the portal stopped while this run was training; resume it"), cancellationToken);
    }

    /// <summary>Trains (or resumes) a run to the end. <paramref name="stopRequested"/> tells a user's Stop from a shutdown.</summary>
    public async Task<RunSummary> ExecuteAsync(int runId, Func<bool>? stopRequested = null, CancellationToken cancellationToken = default)
    {
        TrainingRequest request;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == runId, cancellationToken) ?? throw new ArgumentException($"No run {runId}.");
            request = await BuildRequestAsync(db, run, cancellationToken);
            // An atomic claim: a run never executes twice at once, whoever starts it (job, resume, CLI).
            var now = clock.GetUtcNow();
            var stale = now - HeartbeatTimeout;
            // Shown on the run while it trains; the trainer resolves the same way.
            string device = runtime.Resolve(request.Config.Device).type == TorchSharp.DeviceType.CUDA ? "cuda" : "cpu";
            int claimed = await db.Runs.Where(r => r.Id == runId && r.Status != RunStatus.Succeeded
                    && (r.Status != RunStatus.Running || r.HeartbeatAt == null || r.HeartbeatAt < stale))
                .ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.Status, RunStatus.Running)
                    .SetProperty(r => r.StartedAt, r => r.StartedAt ?? now)
                    .SetProperty(r => r.HeartbeatAt, now)
                    .SetProperty(r => r.Error, (string?)null)
                    .SetProperty(r => r.Device, device)
                    .SetProperty(r => r.EnvironmentJson, JsonSerializer.Serialize(RunEnvironment.Capture(), (JsonSerializerOptions?)null)), cancellationToken);
            if (claimed == 0) throw new InvalidOperationException($"Run '{run.Name}' is {run.Status}; only queued, stopped, failed or interrupted runs can start.");
        }
        Notify(runId);

        var progress = new EventSink(this, runId, request.Config);
        var wall = System.Diagnostics.Stopwatch.StartNew();
        TrainingOutcome outcome;
        try
        {
            outcome = await Task.Run(() => trainer.Train(request, progress, cancellationToken), cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await FinishAsync(runId, stopRequested?.Invoke() == true ? RunStatus.Cancelled : RunStatus.Interrupted, null, wall.Elapsed.TotalSeconds, CancellationToken.None);
            throw;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or InvalidOperationException or System.Runtime.InteropServices.ExternalException)
        {
            logger.LogWarning(ex, "Run {Run} failed", runId);
            await FinishAsync(runId, RunStatus.Failed, ex.Message, wall.Elapsed.TotalSeconds, CancellationToken.None);
            throw;
        }
        finally
        {
            await progress.DrainAsync();
        }

        try
        {
            using (outcome.Model)
            {
                await FinishModelAsync(runId, request, outcome, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            await FinishAsync(runId, stopRequested?.Invoke() == true ? RunStatus.Cancelled : RunStatus.Interrupted, null, wall.Elapsed.TotalSeconds, CancellationToken.None);
            throw;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            logger.LogWarning(ex, "Run {Run}: exporting or evaluating the model failed", runId);
            await FinishAsync(runId, RunStatus.Failed, $"Exporting or evaluating the model failed: {ex.Message}", wall.Elapsed.TotalSeconds, CancellationToken.None);
            throw;
        }

        await using (var db = await contexts.CreateDbContextAsync(CancellationToken.None))
        {
            var run = await db.Runs.SingleAsync(r => r.Id == runId, CancellationToken.None);
            run.Device = outcome.Device;
            run.Seconds += wall.Elapsed.TotalSeconds;
            run.Status = RunStatus.Succeeded;
            run.FinishedAt = clock.GetUtcNow();
            db.Models.Add(new RegisteredModel
            {
                Name = run.Name,
                OnnxPath = run.ModelPath!,
                Labels = string.Join(",", request.Labels),
                InputHeight = request.Config.InputHeight,
                InputWidth = request.Config.InputWidth,
                IsActive = !await db.Models.AnyAsync(m => m.IsActive, CancellationToken.None),
                CreatedAt = clock.GetUtcNow(),
            });
            await db.SaveChangesAsync(CancellationToken.None);
        }
        live.TryRemove(runId, out _);
        Notify(runId);
        return await GetSummaryAsync(runId, CancellationToken.None);
    }

    /// <summary>
    /// Exports the model, fits the calibration temperature on the validation part with the exported model itself,
    /// exports again with it, and evaluates the exported model on the validation and test parts through the same
    /// evaluator as <c>evaluate</c> (so the dashboard and the CLI agree figure for figure).
    /// </summary>
    private async Task FinishModelAsync(int runId, TrainingRequest request, TrainingOutcome outcome, CancellationToken cancellationToken)
    {
        string modelRelative = Path.Combine("runs", runId.ToString(System.Globalization.CultureInfo.InvariantCulture), "model.onnx");
        string modelPath = Path.Combine(storage.DataDirectoryFullPath, modelRelative);
        var metadata = new ClassifierOnnxMetadata(request.Labels, request.Config.InputHeight, request.Config.InputWidth,
            new Dictionary<string, string> { ["run"] = runId.ToString(System.Globalization.CultureInfo.InvariantCulture), ["config"] = request.Config.ToJson() },
            request.Config.Crop, 1, request.Config.TestTimeAugmentation, request.Config.Backbone);
        exporter.Export(outcome.Model, metadata, modelPath);
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.ModelPath, modelRelative), cancellationToken);
        }

        int splitId;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            splitId = await db.Runs.Where(r => r.Id == runId).Select(r => r.SplitId).SingleAsync(cancellationToken);
        }
        string split = splitId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var beat = new HeartbeatThrottle();
        IProgress<(int Done, int Total)> Phase(string phase) => new Progress<(int Done, int Total)>(p =>
        {
            // Keep the heartbeat fresh through the (minutes long) evaluation, so the run is not taken for an orphan.
            if (beat.Due()) _ = Heartbeat(runId);
            var last = live.GetValueOrDefault(runId);
            live[runId] = new RunLiveProgress(last?.Round ?? 2, last?.Epoch ?? 0, last?.EpochsInRound ?? 0, p.Done, p.Total, last?.Loss ?? 0, last?.ImagesPerSecond ?? 0, clock.GetUtcNow(), phase);
            Notify(runId);
        });

        double temperature;
        EvaluationImages valImages;
        IReadOnlyList<ImagePrediction> valPredictions;
        using (var classifier = await evaluations.OpenAsync(runId, cancellationToken))
        {
            valImages = await evaluations.ResolveAsync(classifier.Labels, new EvaluationTarget.SplitPart(split, "val"), cancellationToken);
            valPredictions = await evaluations.PredictAsync(classifier, valImages, Phase("model val"), cancellationToken);
            temperature = Calibration.FitTemperature(valPredictions);
        }
        exporter.Export(outcome.Model, metadata with { Temperature = temperature }, modelPath);
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Temperature, temperature), cancellationToken);
        }
        await evaluations.StoreAsync(runId, valImages, valPredictions, temperature, cancellationToken);
        if (request.Test.Count > 0)
        {
            using var classifier = await evaluations.OpenAsync(runId, cancellationToken);
            var testImages = await evaluations.ResolveAsync(classifier.Labels, new EvaluationTarget.SplitPart(split, "test"), cancellationToken);
            var testPredictions = await evaluations.PredictAsync(classifier, testImages, Phase("model test"), cancellationToken);
            await evaluations.StoreAsync(runId, testImages, testPredictions, classifier.Metadata.Temperature, cancellationToken);
        }
    }

    private async Task Heartbeat(int runId)
    {
        try
        {
            await using var db = await contexts.CreateDbContextAsync();
            await WriteHeartbeatAsync(db, runId);
        }
        catch (Exception ex) when (ex is InvalidOperationException or Microsoft.Data.Sqlite.SqliteException)
        {
            logger.LogWarning(ex, "Run {Run}: heartbeat not written", runId);
        }
    }

    private Task WriteHeartbeatAsync(WbcDbContext db, int runId) =>
        db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.HeartbeatAt, clock.GetUtcNow()));

    /// <summary>Says a heartbeat is due at most every 15 s (progress reports come far more often).</summary>
    private sealed class HeartbeatThrottle
    {
        private long last = Environment.TickCount64;

        public bool Due()
        {
            long now = Environment.TickCount64, before = Interlocked.Read(ref last);
            return now - before > 15_000 && Interlocked.CompareExchange(ref last, now, before) == before;
        }
    }

    private async Task<TrainingRequest> BuildRequestAsync(WbcDbContext db, Run run, CancellationToken cancellationToken)
    {
        var config = TrainingConfig.FromJson(run.ConfigJson);
        var members = await (from m in db.SplitMembers.AsNoTracking()
                             join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                             where m.SplitId == run.SplitId
                             select new { m.Part, i.Id, i.ClassName, i.Sha256, i.Stored!.Format }).ToListAsync(cancellationToken);
        var labels = members.Select(m => m.ClassName).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
        List<LabeledImage> Part(string part) => members.Where(m => m.Part == part).OrderBy(m => m.Id)
            .Select(m => new LabeledImage(m.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), store.ImagePath(m.Sha256, m.Format), index[m.ClassName])).ToList();
        return new TrainingRequest(config, labels, Part("train"), Part("val"), Part("test"),
            Path.Combine(storage.DataDirectoryFullPath, run.CheckpointDirectory));
    }

    private async Task FinishAsync(int runId, RunStatus status, string? error, double seconds, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, status)
            .SetProperty(r => r.Error, error)
            .SetProperty(r => r.Seconds, r => r.Seconds + seconds)
            .SetProperty(r => r.FinishedAt, clock.GetUtcNow()), cancellationToken);
        live.TryRemove(runId, out _);
        Notify(runId);
    }

    public async Task<RunSummary> GetSummaryAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Include(r => r.Evaluations).Include(r => r.Split).SingleOrDefaultAsync(r => r.Id == runId, cancellationToken)
            ?? throw new ArgumentException($"No run {runId}.");
        // The trainer's stages, then the exported model on the run's own parts (not on whatever else it was evaluated on): as the run page's table.
        var rounds = RunReportQueries.Rounds(run.Evaluations.OrderBy(e => e.Id).ToList(), run.Split?.Name)
            .Select(r => new RunRoundSummary(r.Stage, r.ValAccuracy, r.TestAccuracy, r.TestMacroF1)).ToList();
        return new RunSummary(run.Id, run.Name, run.Status, run.Device, run.Seconds, rounds, run.ModelPath, run.Error);
    }

    public async Task<int> ResolveAsync(string idOrName, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Runs.Where(r => r.Name == idOrName || r.Id.ToString() == idOrName).Select(r => (int?)r.Id).SingleOrDefaultAsync(cancellationToken)
            ?? throw new ArgumentException($"No run '{idOrName}'.");
    }

    private void Notify(int runId) => changes.Notify(runId);

    /// <summary>Turns trainer events into rows and live numbers; writes go through one queue so they keep their order.</summary>
    private sealed class EventSink(TrainingRunService owner, int runId, TrainingConfig config) : IProgress<TrainingEvent>
    {
        private Task tail = Task.CompletedTask;
        private readonly object gate = new();
        private readonly HeartbeatThrottle beat = new();

        public void Report(TrainingEvent value)
        {
            if (beat.Due()) Enqueue(db => owner.WriteHeartbeatAsync(db, runId));
            switch (value)
            {
                case BatchCompleted b:
                    int epochs = b.Round == 1 ? config.Round1.Epochs : config.Round2.Epochs;
                    owner.live[runId] = new RunLiveProgress(b.Round, b.Epoch, epochs, b.Batch, b.Batches, b.Loss, b.ImagesPerSecond, owner.Clock.GetUtcNow());
                    owner.Notify(runId);
                    break;
                case EpochCompleted e:
                    Enqueue(async db =>
                    {
                        await db.RunEpochs.Where(x => x.RunId == runId && x.Round == e.Record.Round && x.Epoch == e.Record.Epoch).ExecuteDeleteAsync();
                        db.RunEpochs.Add(new RunEpoch
                        {
                            RunId = runId, Round = e.Record.Round, Epoch = e.Record.Epoch, TrainLoss = e.Record.TrainLoss, TrainAccuracy = e.Record.TrainAccuracy,
                            ValLoss = e.Record.ValLoss, ValAccuracy = e.Record.ValAccuracy, Seconds = e.Record.Seconds, ImagesPerSecond = e.Record.ImagesPerSecond,
                            LearningRate = e.Record.LearningRate,
                        });
                        await owner.WriteHeartbeatAsync(db, runId);
                    });
                    break;
                case EvaluationProgress p:
                    var last = owner.live.GetValueOrDefault(runId);
                    owner.live[runId] = new RunLiveProgress(last?.Round ?? 0, last?.Epoch ?? 0, last?.EpochsInRound ?? 0, p.Batch, p.Batches, last?.Loss ?? 0, last?.ImagesPerSecond ?? 0, owner.Clock.GetUtcNow(), p.Stage);
                    owner.Notify(runId);
                    break;
                case Evaluated ev:
                    Enqueue(db =>
                    {
                        db.RunEvaluations.Add(Row(ev.Stage, "val", ev.Validation));
                        if (ev.Test is not null) db.RunEvaluations.Add(Row(ev.Stage, "test", ev.Test));
                        return Task.CompletedTask;
                    });
                    break;
            }
        }

        private RunEvaluation Row(string stage, string part, ClassificationMetrics m) => new()
        {
            RunId = runId,
            Stage = stage,
            Part = part,
            Accuracy = m.Accuracy,
            MacroF1 = m.MacroF1,
            MetricsJson = JsonSerializer.Serialize(new { labels = m.Labels, matrix = m.Rows(), perClass = m.PerClass }),
        };

        private void Enqueue(Func<WbcDbContext, Task> write)
        {
            lock (gate)
            {
                tail = tail.ContinueWith(async _ =>
                {
                    await using var db = await owner.Contexts.CreateDbContextAsync();
                    await write(db);
                    await db.SaveChangesAsync();
                    owner.Notify(runId);
                }, TaskScheduler.Default).Unwrap();
            }
        }

        public Task DrainAsync()
        {
            lock (gate) return tail;
        }
    }
}

/// <summary>What a run ran on, recorded with it.</summary>
public sealed record RunEnvironment(string Portal, string Dotnet, string Os, int Cores, string TorchSharp, string OnnxRuntime)
{
    public static RunEnvironment Capture() => new(
        Services.SystemStatusService.Version,
        Environment.Version.ToString(),
        System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        Environment.ProcessorCount,
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?",
        typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString() ?? "?");
}
