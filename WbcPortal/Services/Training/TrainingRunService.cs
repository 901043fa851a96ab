using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Compute;
using WbcPortal.Services.Accounts;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reject;
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

public sealed record RunSummary(int Id, string Name, RunStatus Status, WbcPortal.Engine.Compute.ComputeDevice? Device, double Seconds, IReadOnlyList<RunRoundSummary> Rounds, string? ModelPath, string? Error);

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
    Splits.SplitService splits,
    RunStore runStore,
    RunProgress liveProgress,
    ILogger<TrainingRunService> logger, Accounts.AccessControl access, Accounts.AuditLog audit)
{


    private TimeProvider Clock => clock;
    private RunStore Store => runStore;
    private IDbContextFactory<WbcDbContext> Contexts => contexts;

    /// <summary>The live numbers this service writes (pages read them from <see cref="RunProgress"/> directly).</summary>
    public RunProgress Progress => liveProgress;

    [Demands(PortalAction.Train)]
    public async Task<Run> CreateAsync(string splitIdOrName, TrainingConfig config, string? name = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Train);
        config.Validate();
        CheckDevice(config);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var split = await db.Splits.AsNoTracking().SingleOrDefaultAsync(s => s.Name == splitIdOrName || s.Id.ToString() == splitIdOrName, cancellationToken)
            ?? throw new ArgumentException($"No split '{splitIdOrName}'.");
        var now = clock.GetUtcNow();
        string runName = string.IsNullOrWhiteSpace(name) ? $"{split.Name}-{now:yyyyMMdd-HHmmss}" : name.Trim();
        if (await db.Runs.AnyAsync(r => r.Name == runName, cancellationToken)) throw new ArgumentException($"A run named '{runName}' exists already.");
        var run = NewRun(runName, split, config, now);
        db.Runs.Add(run);
        await db.SaveChangesAsync(cancellationToken);
        run.CheckpointDirectory = CheckpointDirectoryOf(run.Id);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.RunStarted, $"split '{splitIdOrName}'", name, cancellationToken: CancellationToken.None);
        return run;
    }

    /// <summary>Refused here, with what to choose, rather than queued to fail (or wait) on a device this machine lacks.</summary>
    public void CheckDevice(TrainingConfig config)
    {
        if (runtime.Availability(config.Device) is { Available: false, Reason: var reason }) throw new ArgumentException(Capitalized(reason!) + ".");
    }

    /// <summary>A queued run's record (its checkpoint folder is set once it has an id: <see cref="CheckpointDirectoryOf"/>).</summary>
    internal static Run NewRun(string name, Split split, TrainingConfig config, DateTimeOffset now) => new()
    {
        Name = name,
        SplitId = split.Id,
        Split = split.Id == 0 ? split : null,
        ConfigJson = config.ToJson(),
        Status = RunLifecycle.To(RunTransition.Create),
        Seed = config.Seed,
        CreatedAt = now,
        CheckpointDirectory = "",
    };

    internal static string CheckpointDirectoryOf(int runId) => DataFolderLayout.CheckpointsRelative(runId);

    /// <summary>How often the executing process looks for a Stop asked by any process, and whether its run was taken from it.</summary>
    public static readonly TimeSpan StopPollInterval = TimeSpan.FromSeconds(2);

    /// <summary>How often the executing process renews its run's heartbeat (for a lease owner on another host, which cannot be checked).</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Claims the run (atomically, leased to this process), then builds its request, trains, exports and evaluates.
    /// Whatever goes wrong after the claim ends the run: Failed with a readable reason, Cancelled when a Stop was asked
    /// (here or from any process), Interrupted when this process is shutting down; never left Running or Queued.
    /// <paramref name="claimFrom"/> is the statuses it may start from: Queued (the job, <c>train</c>), or
    /// <see cref="RunLifecycle.ResumableHere"/> for the CLI's <c>resume</c>.
    /// </summary>
    public async Task<RunSummary> ExecuteAsync(int runId, Func<bool>? stopRequested = null, CancellationToken cancellationToken = default, RunStatus[]? claimFrom = null)
    {
        await runStore.CheckLeaseAsync(runId, cancellationToken);
        await runStore.ClaimAsync(runId, claimFrom ?? RunLifecycle.StatusesAllowing(RunAction.Claim), cancellationToken);
        Notify(runId);

        var wall = System.Diagnostics.Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var watching = new CancellationTokenSource();
        var stopAsked = new StrongBox<bool>();
        var watcher = WatchAsync(runId, stop, stopAsked, watching.Token);
        try
        {
            return await RunClaimedAsync(runId, wall, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            bool byUser = stopAsked.Value || stopRequested?.Invoke() == true || await StopWasRequestedAsync(runId);
            await FinishAsync(runId, byUser ? RunStatus.Cancelled : RunStatus.Interrupted,
                byUser ? null : "training was interrupted: the process running it was shutting down; resume it", wall.Elapsed.TotalSeconds);
            throw;
        }
        catch (Exception ex)
        {
            // Every failure, whatever its type: a catch list would let the one not listed strand the run as Running.
            logger.LogWarning(ex, "Run {Run} failed", runId);
            await FinishAsync(runId, RunStatus.Failed, UserFacingError.Describe(ex), wall.Elapsed.TotalSeconds);
            throw;
        }
        finally
        {
            await watching.CancelAsync();
            await watcher;
            ReleaseMemory(runId);
        }
    }

    /// <summary>Whatever the run's end, the memory its training held goes back to the system (<see cref="ProcessMemory"/>).</summary>
    private void ReleaseMemory(int runId)
    {
        if (!runtime.Options.ReleaseMemoryAfterRun) return;
        long before = ProcessMemory.ResidentBytes(), after = ProcessMemory.Release();
        logger.LogInformation("Run {Run} ended: resident memory {Before:N0} MB, {After:N0} MB after giving back what it held", runId, before / (1024.0 * 1024), after / (1024.0 * 1024));
    }

    /// <summary>The claimed run's work, from its request to the registered model; any exception is the caller's to record.</summary>
    /// <summary>The honesty of the run's split (leak-free, suspect pairs, leaky, leaky by design, not checked).</summary>
    public async Task<Engine.Datasets.Splitting.SplitHonesty> SplitHonestyAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var split = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => r.Split).SingleOrDefaultAsync(cancellationToken);
        return Splits.SplitReports.HonestyOf(split);
    }

    /// <summary>
    /// Every figure of a run is labelled with its split's honesty: a split that was never leak-checked (a cross-validation
    /// fold, or one made before the check existed) is checked before training starts, so the run's figures never say "not checked".
    /// </summary>
    private async Task EnsureLeakCheckedAsync(int runId, CancellationToken cancellationToken)
    {
        string? splitName;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var split = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => r.Split).SingleAsync(cancellationToken);
            // a random split is leaky by design whatever a check finds
            if (split is null || Splits.SplitReports.Read(split.ReportJson) is { LeakCheck: not null } or { Strategy: WbcPortal.Engine.Datasets.Splitting.SplitStrategy.Random }) return;
            splitName = split.Name;
        }
        logger.LogInformation("Run {Run}: leak-checking split {Split} before training", runId, splitName);
        await splits.CheckLeaksAsync(splitName, cancellationToken: cancellationToken);
        Notify(runId);
    }

    private async Task<RunSummary> RunClaimedAsync(int runId, System.Diagnostics.Stopwatch wall, CancellationToken cancellationToken)
    {
        TrainingRequest request;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var run = await db.Runs.SingleAsync(r => r.Id == runId, cancellationToken);
            request = await BuildRequestAsync(db, run, cancellationToken);
            // Resolved here, after the claim: a device this machine lacks fails the run with its reason instead of leaving it queued.
            run.Device = WbcPortal.Engine.Compute.ComputeDevices.Of(runtime.Resolve(request.Config.Device));
            run.EnvironmentJson = JsonSerializer.Serialize(RunEnvironment.Capture(), (JsonSerializerOptions?)null);
            await db.SaveChangesAsync(cancellationToken);
        }
        Notify(runId);
        await EnsureLeakCheckedAsync(runId, cancellationToken);

        var progress = new EventSink(this, runId, request.Config);
        TrainingOutcome outcome;
        try
        {
            outcome = await Task.Run(() => trainer.Train(request, progress, cancellationToken), cancellationToken);
        }
        finally
        {
            await progress.DrainAsync();
        }

        using (outcome.Model)
        {
            await FinishModelAsync(runId, request, outcome, cancellationToken);
        }

        await using (var db = await contexts.CreateDbContextAsync(CancellationToken.None))
        {
            await using var transaction = await db.Database.BeginTransactionAsync(CancellationToken.None);
            // Succeeded only by the process that holds the lease, as every other end of a run (a run taken away meanwhile
            // keeps the state its new holder gives it, and registers no model from here).
            string lease = ProcessIdentity.Current.ToString();
            var running = RunLifecycle.From(RunTransition.Finish);
            var now = clock.GetUtcNow();
            if (await db.Runs.Where(r => r.Id == runId && running.Contains(r.Status) && r.LeaseOwner == lease).ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.Status, RunLifecycle.To(RunTransition.Finish, RunStatus.Succeeded))
                    .SetProperty(r => r.Device, (WbcPortal.Engine.Compute.ComputeDevice?)outcome.Device)
                    .SetProperty(r => r.Seconds, r => r.Seconds + wall.Elapsed.TotalSeconds)
                    .SetProperty(r => r.LeaseOwner, (string?)null)
                    .SetProperty(r => r.FinishedAt, now), CancellationToken.None) == 0)
            {
                throw new RunNotClaimableException($"Run {runId} was taken away from this process before it finished; its model is not registered from here.");
            }
            var run = await db.Runs.AsNoTracking().SingleAsync(r => r.Id == runId, CancellationToken.None);
            db.Models.Add(new RegisteredModel
            {
                Name = run.Name,
                OnnxPath = run.ModelPath!,
                Labels = string.Join(",", request.Labels),
                InputHeight = request.Config.InputHeight,
                InputWidth = request.Config.InputWidth,
                // A cross-validation fold's model saw only part of the data: it is kept, but never made the active model by itself.
                IsActive = run.CrossValidationId is null && !await db.Models.AnyAsync(m => m.IsActive, CancellationToken.None),
                CreatedAt = clock.GetUtcNow(),
            });
            await db.SaveChangesAsync(CancellationToken.None);
            await transaction.CommitAsync(CancellationToken.None);
        }
        PruneCheckpoints(runId, request.CheckpointDirectory);
        liveProgress.Clear(runId);
        Notify(runId);
        return await GetSummaryAsync(runId, CancellationToken.None);
    }

    /// <summary>
    /// Beside the executing run: every <see cref="StopPollInterval"/> reads whether a Stop was asked (by any process)
    /// or the run was taken away, and cancels it then; renews the heartbeat every <see cref="HeartbeatInterval"/>.
    /// </summary>
    private async Task WatchAsync(int runId, CancellationTokenSource stop, StrongBox<bool> stopAsked, CancellationToken done)
    {
        string lease = ProcessIdentity.Current.ToString();
        var sinceBeat = System.Diagnostics.Stopwatch.StartNew();
        while (!done.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(StopPollInterval, done);
                await using var db = await contexts.CreateDbContextAsync(done);
                var row = await db.Runs.AsNoTracking().Where(r => r.Id == runId)
                    .Select(r => new { r.StopRequestedAt, r.Status, r.LeaseOwner }).SingleOrDefaultAsync(done);
                if (row is null || row.StopRequestedAt is not null)
                {
                    stopAsked.Value = true;
                    await stop.CancelAsync();
                    return;
                }
                // This process finished the run itself (the final status is written just before the watcher is stopped).
                if (row.Status is RunStatus.Succeeded or RunStatus.Failed or RunStatus.Cancelled) return;
                if (row.Status != RunStatus.Running || row.LeaseOwner != lease)
                {
                    logger.LogWarning("Run {Run} is no longer leased to this process ({Status}); stopping it here", runId, row.Status);
                    await stop.CancelAsync();
                    return;
                }
                if (sinceBeat.Elapsed >= HeartbeatInterval)
                {
                    await runStore.WriteHeartbeatAsync(db, runId);
                    sinceBeat.Restart();
                }
            }
            catch (OperationCanceledException) when (done.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A busy database now and then must not end a run: the next poll tries again.
                logger.LogWarning(ex, "Run {Run}: stop/heartbeat poll failed: {Reason}", runId, UserFacingError.Describe(ex));
            }
        }
    }

    private async Task<bool> StopWasRequestedAsync(int runId)
    {
        try
        {
            await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
            return await db.Runs.AnyAsync(r => r.Id == runId && r.StopRequestedAt != null, CancellationToken.None);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Data.Common.DbException)
        {
            return false;
        }
    }

    private static string Capitalized(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>
    /// Exports the model, fits the calibration temperature on the validation part with the exported model itself,
    /// exports again with it, and evaluates the exported model on the validation and test parts through the same
    /// evaluator as <c>evaluate</c> (so the dashboard and the CLI agree figure for figure).
    /// </summary>
    private async Task FinishModelAsync(int runId, TrainingRequest request, TrainingOutcome outcome, CancellationToken cancellationToken)
    {
        string modelRelative = DataFolderLayout.ModelRelative(runId);
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
        IProgress<(int Done, int Total)> Phase(string phase) => new Progress<(int Done, int Total)>(p =>
        {
            var last = liveProgress.Live(runId);
            liveProgress.Set(runId, new RunLiveProgress(last?.Round ?? 2, last?.Epoch ?? 0, last?.EpochsInRound ?? 0, p.Done, p.Total, last?.Loss ?? 0, last?.ImagesPerSecond ?? 0, clock.GetUtcNow(), phase));
            Notify(runId);
        });

        EvaluationImages valImages;
        IReadOnlyList<ImagePrediction> valPredictions;
        using (var classifier = await evaluations.OpenAsync(runId, cancellationToken))
        {
            valImages = await evaluations.ResolveAsync(classifier.Labels, new EvaluationTarget.SplitPart(split, SplitPart.Validation), cancellationToken);
            valPredictions = await evaluations.PredictAsync(classifier, valImages, Phase("model val"), cancellationToken);
        }
        var fit = ModelCalibrationFit.Fit(valPredictions, valImages.GroupOfKey, request.Config.RejectTargetAccuracy);
        exporter.Export(outcome.Model, metadata with { Temperature = fit.Temperature, RejectThreshold = fit.RejectThreshold, RejectTargetAccuracy = fit.TargetAccuracy }, modelPath);
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Temperature, fit.Temperature), cancellationToken);
        }
        await evaluations.StoreAsync(runId, valImages, valPredictions, fit.Temperature, fit.RejectThreshold, cancellationToken);
        if (request.Test.Count > 0)
        {
            using var classifier = await evaluations.OpenAsync(runId, cancellationToken);
            var testImages = await evaluations.ResolveAsync(classifier.Labels, new EvaluationTarget.SplitPart(split, SplitPart.Test), cancellationToken);
            var testPredictions = await evaluations.PredictAsync(classifier, testImages, Phase("model test"), cancellationToken);
            await evaluations.StoreAsync(runId, testImages, testPredictions, classifier.Metadata.Temperature, classifier.Metadata.RejectThreshold, cancellationToken);
        }
    }

    /// <summary>A succeeded run is never resumed: its optimizer state and spare weights go (the model's weights stay for Grad-CAM).</summary>
    private void PruneCheckpoints(int runId, string checkpointDirectory)
    {
        try
        {
            long freed = Checkpoint.PruneAfterExport(checkpointDirectory);
            if (freed > 0) logger.LogInformation("Run {Run}: checkpoints pruned after export, {Megabytes:N0} MB freed", runId, freed / (1024.0 * 1024));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // The run stands; its spare checkpoint files only cost disk space.
            logger.LogWarning(ex, "Run {Run}: its checkpoints could not be pruned", runId);
        }
    }


    private async Task<TrainingRequest> BuildRequestAsync(WbcDbContext db, Run run, CancellationToken cancellationToken)
    {
        var config = TrainingConfig.FromJson(run.ConfigJson);
        var members = await (from m in db.SplitMembers.AsNoTracking()
                             join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                             where m.SplitId == run.SplitId
                             select new { m.Part, i.Id, i.ClassName, i.Sha256, i.Stored!.Format, i.SourceGroup }).ToListAsync(cancellationToken);
        var labels = members.Select(m => m.ClassName).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
        List<LabeledImage> Part(SplitPart part) => members.Where(m => m.Part == part).OrderBy(m => m.Id)
            .Select(m => new LabeledImage(m.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), store.ImagePath(m.Sha256, m.Format), index[m.ClassName], m.SourceGroup)).ToList();
        return new TrainingRequest(config, labels, Part(SplitPart.Train), Part(SplitPart.Validation), Part(SplitPart.Test),
            Path.Combine(storage.DataDirectoryFullPath, run.CheckpointDirectory));
    }

    /// <summary>Ends a run this process holds; retried, because a run left Running by a live process would wait for its restart.</summary>
    private async Task FinishAsync(int runId, RunStatus status, string? error, double seconds)
    {
        await runStore.FinishAsync(runId, status, error, seconds);
        liveProgress.Clear(runId);
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

        public void Report(TrainingEvent value)
        {
            switch (value)
            {
                case BatchCompleted b:
                    int epochs = b.Round == 1 ? config.Round1.Epochs : config.Round2.Epochs;
                    owner.Progress.Set(runId, new RunLiveProgress(b.Round, b.Epoch, epochs, b.Batch, b.Batches, b.Loss, b.ImagesPerSecond, owner.Clock.GetUtcNow()));
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
                        await owner.Store.WriteHeartbeatAsync(db, runId);
                    });
                    break;
                case EvaluationProgress p:
                    var last = owner.Progress.Live(runId);
                    owner.Progress.Set(runId, new RunLiveProgress(last?.Round ?? 0, last?.Epoch ?? 0, last?.EpochsInRound ?? 0, p.Batch, p.Batches, last?.Loss ?? 0, last?.ImagesPerSecond ?? 0, owner.Clock.GetUtcNow(), p.Stage));
                    owner.Notify(runId);
                    break;
                case Evaluated ev:
                    Enqueue(async db =>
                    {
                        // A resumed run evaluates again a round whose evaluation may have been recorded before the stop.
                        await db.RunEvaluations.Where(x => x.RunId == runId && x.Stage == ev.Stage).ExecuteDeleteAsync();
                        db.RunEvaluations.Add(Row(ev.Stage, SplitPart.Validation, ev.Validation));
                        if (ev.Test is not null) db.RunEvaluations.Add(Row(ev.Stage, SplitPart.Test, ev.Test));
                    });
                    break;
            }
        }

        private RunEvaluation Row(TrainingStage stage, SplitPart part, ClassificationMetrics m) => new()
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

/// <summary>A run cannot take this step from its status; the message says why (from <see cref="RunLifecycle"/>).</summary>
public sealed class RunNotClaimableException(string message) : InvalidOperationException(message);

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
