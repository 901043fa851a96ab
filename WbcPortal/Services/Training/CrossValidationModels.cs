using WbcPortal.Services.Accounts;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation.Reject;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Options;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>What making a cross-validation's deployable model gave: the registered model, its calibration, its figures on the split's test part, its cost.</summary>
public sealed record CrossValidationModel(int ModelId, string Name, string OnnxPath, int Members, double Temperature, double RejectThreshold, bool CalibratedByOriginal,
    EvaluationReport Test, string TestSource, double MillisecondsPerImage, double MemberMillisecondsPerImage);

/// <summary>
/// One deployable model from a cross-validation: its fold models averaged in one ONNX graph (<see cref="EnsembleOnnxBuilder"/>, logits
/// averaged), calibrated on the source split's validation part (temperature and "Unidentified" threshold fitted with each original
/// weighted once, at the cross-validation's target accuracy), judged on the split's test part, which no fold ever trained, validated or
/// was tested on, and registered with those figures on its card. The cost per image beside one fold model's is measured on the test images.
/// The portal makes it as a <see cref="CrossValidationModelJob"/> (<see cref="CrossValidationModelJobs"/>); the CLI's <c>ensemble</c> calls <see cref="MakeAsync"/> itself.
/// </summary>
public sealed class CrossValidationModels(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage, EvaluationService evaluations,
    OnnxSessionFactory sessions, BackboneRegistry backbones, TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public const string Folder = "models/ensembles";

    [Demands(PortalAction.ManageModels)]
    public async Task<CrossValidationModel> MakeAsync(int crossValidationId, IProgress<JobProgress>? progress, CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.ManageModels);
        if (storage.ReadOnly) throw new InvalidOperationException(storage.ReadOnlyRefusal("models are made on the portal that holds the data folder"));
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var cv = await db.CrossValidations.AsNoTracking().Include(c => c.SourceSplit).Include(c => c.Runs).SingleOrDefaultAsync(c => c.Id == crossValidationId, cancellationToken)
            ?? throw new ArgumentException($"No cross-validation {crossValidationId}.");
        var members = cv.Runs.Where(r => r.Status == RunStatus.Succeeded && r.ModelPath is not null).OrderBy(r => r.Id).ToList();
        if (members.Count < 2)
            throw new ArgumentException($"Cross-validation '{cv.Name}' has {members.Count} finished fold model(s); averaging needs at least two.");
        string name = $"{cv.Name}-ensemble";
        if (await db.Models.AnyAsync(m => m.Name == name, cancellationToken)) throw new ArgumentException($"A model named '{name}' exists already.");
        var config = TrainingConfig.FromJson(cv.ConfigJson);
        var paths = members.Select(r => Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, r.ModelPath!))).ToList();
        var missing = paths.Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0) throw new ArgumentException($"{missing.Count} fold model file(s) are not on disk any more, e.g. {Path.GetFileName(Path.GetDirectoryName(missing[0]))}.");

        progress?.Report(new JobProgress(0, $"averaging {members.Count} fold models"));
        var first = ClassifierOnnxMetadata.Read(paths[0]);
        var metadata = first with { Temperature = 1, RejectThreshold = 0, RejectTargetAccuracy = config.RejectTargetAccuracy, Properties = null };
        var proto = EnsembleOnnxBuilder.Build(paths.Select(OnnxGraphEdits.Load).ToList(), metadata);
        string relative = $"{Folder}/{ReportEndpointsStem(cv.Name)}-{clock.GetUtcNow():yyyyMMddHHmmss}.onnx";
        string full = Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, relative));
        ModelProtoFile.Write(proto, full);
        try
        {
            string split = cv.SourceSplit!.Name;
            EvaluationReport test;
            ModelCalibrationFit fit;
            EvaluationImages testImages;
            double ms, memberMs;
            using (var ensemble = OnnxClassifier.Load(full, sessions, backbones))
            {
                progress?.Report(new JobProgress(0.05, "calibrating on the split's validation part"));
                var val = await evaluations.ResolveAsync(ensemble.Labels, new EvaluationTarget.SplitPart(split, SplitPart.Validation), cancellationToken);
                if (val.Images.Count == 0) throw new ArgumentException($"Split '{split}' has no validation part to calibrate on.");
                var valPredictions = await evaluations.PredictAsync(ensemble, val, Progress(progress, "validation", 0.05, 0.5), cancellationToken);
                fit = ModelCalibrationFit.Fit(valPredictions, val.GroupOfKey, config.RejectTargetAccuracy);

                progress?.Report(new JobProgress(0.5, "judging on the split's test part"));
                testImages = await evaluations.ResolveAsync(ensemble.Labels, new EvaluationTarget.SplitPart(split, SplitPart.Test), cancellationToken);
                if (testImages.Images.Count == 0) throw new ArgumentException($"Split '{split}' has no test part to judge the model on.");
                var watch = Stopwatch.StartNew();
                var testPredictions = await evaluations.PredictAsync(ensemble, testImages, Progress(progress, "test", 0.5, 0.95), cancellationToken);
                ms = watch.Elapsed.TotalMilliseconds / testImages.Images.Count;
                test = EvaluationReport.Build(ensemble.Labels, testPredictions, fit.Temperature, testImages.GroupOfKey, fit.RejectThreshold);
            }
            using (var one = OnnxClassifier.Load(paths[0], sessions, backbones))
            {
                var sample = testImages with { Images = testImages.Images.Take(Math.Min(64, testImages.Images.Count)).ToList() };
                var watch = Stopwatch.StartNew();
                await evaluations.PredictAsync(one, sample, null, cancellationToken);
                memberMs = watch.Elapsed.TotalMilliseconds / sample.Images.Count;
            }
            ModelProtoFile.RewriteMetadata(full, m => m with { Temperature = fit.Temperature, RejectThreshold = fit.RejectThreshold, RejectTargetAccuracy = fit.TargetAccuracy });

            var model = new RegisteredModel
            {
                Name = name,
                OnnxPath = relative,
                Labels = string.Join(",", metadata.Labels),
                InputHeight = metadata.InputHeight,
                InputWidth = metadata.InputWidth,
                CreatedAt = clock.GetUtcNow(),
                CrossValidationId = cv.Id,
                ReportJson = JsonSerializer.Serialize(test, EvaluationService.Json),
                ReportSource = Engine.Evaluation.EvaluationSource.Split(split, Engine.Datasets.Splitting.SplitPart.Test).ToString(),
            };
            db.Models.Add(model);
            await db.SaveChangesAsync(cancellationToken);
            progress?.Report(new JobProgress(1, $"registered as model {name}"));
            await audit.RecordAsync(AuditAction.ModelMadeFromCrossValidation, $"cross-validation {crossValidationId}", $"model {model.Id} '{name}', {members.Count} folds", cancellationToken: CancellationToken.None);
            return new CrossValidationModel(model.Id, name, relative, members.Count, fit.Temperature, fit.RejectThreshold, fit.ByOriginal, test, model.ReportSource, ms, memberMs);
        }
        catch
        {
            File.Delete(full);
            throw;
        }
    }

    /// <summary>A part's predictions as the job's progress: from <paramref name="from"/> to <paramref name="to"/> of the whole, a line every 256 images.</summary>
    private static IProgress<(int Done, int Total)>? Progress(IProgress<JobProgress>? progress, string part, double from, double to) => progress is null ? null
        : new InlineProgress<(int Done, int Total)>(p =>
        {
            if (p.Done == p.Total || p.Done % 256 == 0)
                progress.Report(new JobProgress(from + (to - from) * (p.Total == 0 ? 1 : (double)p.Done / p.Total), string.Create(CultureInfo.InvariantCulture, $"{part}: {p.Done}/{p.Total}")));
        });

    private static string ReportEndpointsStem(string name) => Endpoints.ReportEndpoints.SafeStem(name, "cv");
}
