using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Accounts;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reject;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Evaluation;

/// <summary>What a recalibration changed: the temperature and threshold before and after, and the reports rebuilt.</summary>
public sealed record RecalibrationResult(int RunId, double TemperatureBefore, double RejectThresholdBefore, ModelCalibrationFit Fit, int ValidationImages,
    IReadOnlyList<(string Source, CoveragePoint AtThreshold, double Ece)> Evaluations);

/// <summary>
/// Fits a model's temperature and reject threshold again from the validation predictions stored with its run (no image
/// is read and nothing is predicted again: the stored logits are the exported model's), writes them into the ONNX
/// file's metadata (atomically: the graph is untouched) and rebuilds every stored report of the model from its stored
/// logits. For a model trained before it had a reject threshold, or to choose another target accuracy.
/// </summary>
public sealed class ModelCalibrationService(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage, Training.RunChanges changes, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    [Demands(PortalAction.Evaluate)]
    public async Task<RecalibrationResult> RecalibrateAsync(int runId, double targetAccuracy, CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.Evaluate);
        if (targetAccuracy is < 0.5 or > 1 || double.IsNaN(targetAccuracy)) throw new ArgumentException("The target accuracy of decided cells must be 0.5 to 1.");
        if (storage.ReadOnly) throw new InvalidOperationException(storage.ReadOnlyRefusal("a model is recalibrated on the portal that holds the data folder"));
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, cancellationToken) ?? throw new ArgumentException($"No run {runId}.");
        if (run.ModelPath is null) throw new InvalidOperationException($"Run '{run.Name}' has no exported model (it is {run.Status}).");
        string modelPath = Path.Combine(storage.DataDirectoryFullPath, run.ModelPath);
        var split = await db.Splits.AsNoTracking().SingleAsync(s => s.Id == run.SplitId, cancellationToken);
        var evaluations = await db.RunEvaluations.Where(e => e.RunId == runId && e.Stage == TrainingStage.Model).ToListAsync(cancellationToken);
        var validation = evaluations.SingleOrDefault(e => e.Source == EvaluationSource.Split(split.Name, Engine.Datasets.Splitting.SplitPart.Validation))
            ?? throw new InvalidOperationException($"Run '{run.Name}' has no stored evaluation of its validation part to calibrate on.");

        var groups = await GroupsAsync(db, evaluations.Select(e => e.Id).ToList(), cancellationToken);
        var valPredictions = await PredictionsAsync(db, validation.Id, cancellationToken);
        var fit = ModelCalibrationFit.Fit(valPredictions, groups, targetAccuracy);
        var before = ClassifierOnnxMetadata.Read(modelPath);
        var labels = before.Labels;

        // The file first: were the process killed before the reports are rebuilt, the model answers with the new
        // threshold and the reports still describe the old one until this is run again (it is idempotent).
        ModelProtoFile.RewriteMetadata(modelPath, m => m with { Temperature = fit.Temperature, RejectThreshold = fit.RejectThreshold, RejectTargetAccuracy = targetAccuracy });

        var rebuilt = new List<(string, CoveragePoint, double)>();
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Temperature, fit.Temperature), cancellationToken);
            foreach (var evaluation in evaluations)
            {
                var predictions = evaluation.Id == validation.Id ? valPredictions : await PredictionsAsync(db, evaluation.Id, cancellationToken);
                bool grouped = predictions.All(p => groups.ContainsKey(p.Key)) && EvaluationService.ReadReport(evaluation).ByOriginal is not null;
                var report = EvaluationReport.Build(labels, predictions, fit.Temperature, grouped ? groups : null, fit.RejectThreshold);
                evaluation.ReportJson = JsonSerializer.Serialize(report, EvaluationService.Json);
                evaluation.Ece = report.Calibrated.Ece;
                evaluation.EceUncalibrated = report.Uncalibrated.Ece;
                var stored = await db.RunPredictions.Where(p => p.EvaluationId == evaluation.Id).ToListAsync(cancellationToken);
                foreach (var p in stored)
                {
                    var logits = JsonSerializer.Deserialize<float[]>(p.LogitsJson) ?? [];
                    p.Confidence = Calibration.Softmax(logits, fit.Temperature)[p.Predicted];
                }
                rebuilt.Add((evaluation.SourceTitle, report.Coverage!.AtThreshold, report.Calibrated.Ece));
            }
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        changes.Notify(runId);
        await audit.RecordAsync(AuditAction.Calibrated, $"run {runId}", $"target {targetAccuracy:P0}", cancellationToken: CancellationToken.None);
        return new RecalibrationResult(runId, before.Temperature, before.RejectThreshold, fit, valPredictions.Count, rebuilt);
    }

    private static async Task<List<ImagePrediction>> PredictionsAsync(WbcDbContext db, int evaluationId, CancellationToken cancellationToken)
    {
        var rows = await db.RunPredictions.AsNoTracking().Where(p => p.EvaluationId == evaluationId).OrderBy(p => p.Id)
            .Select(p => new { p.Id, p.DatasetImageId, p.File, p.Label, p.LogitsJson }).ToListAsync(cancellationToken);
        return rows.Select(p => new ImagePrediction(
            p.DatasetImageId?.ToString(CultureInfo.InvariantCulture) ?? p.File ?? p.Id.ToString(CultureInfo.InvariantCulture),
            p.Label, JsonSerializer.Deserialize<float[]>(p.LogitsJson) ?? [])).ToList();
    }

    /// <summary>Each evaluated dataset image's source group, by prediction key (the image id).</summary>
    private static async Task<Dictionary<string, int?>> GroupsAsync(WbcDbContext db, List<int> evaluationIds, CancellationToken cancellationToken)
    {
        var rows = await (from p in db.RunPredictions.AsNoTracking()
                          join i in db.DatasetImages.AsNoTracking() on p.DatasetImageId equals i.Id
                          where evaluationIds.Contains(p.EvaluationId)
                          select new { i.Id, i.SourceGroup }).Distinct().ToListAsync(cancellationToken);
        return rows.ToDictionary(r => r.Id.ToString(CultureInfo.InvariantCulture), r => r.SourceGroup);
    }
}
