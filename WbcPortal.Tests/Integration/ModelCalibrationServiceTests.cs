using WbcPortal.Engine.Training;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Options;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Recalibrating a stored model over the real SQLite database: the temperature and reject threshold fitted again from
/// the stored validation logits, written into the ONNX file, and every stored report rebuilt with its "Unidentified" counts.
/// </summary>
public sealed class ModelCalibrationServiceTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-calibrate");
    private ServiceProvider services = default!;
    private ReviewSeed seed = default!;
    private string modelPath = "";

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        seed = await ReviewSeed.WriteAsync(services);
        // The seeded test evaluation doubles as the validation part; a one-node graph stands in for the model (nothing runs it).
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync(Ct);
        var test = await db.RunEvaluations.Include(e => e.Predictions).SingleAsync(e => e.Id == seed.EvaluationId, Ct);
        var val = new RunEvaluation
        {
            RunId = seed.RunId, Stage = TrainingStage.Model, Part = WbcPortal.Engine.Datasets.Splitting.SplitPart.Validation, Source = WbcPortal.Engine.Evaluation.EvaluationSource.Split(test.Source!.Name, WbcPortal.Engine.Datasets.Splitting.SplitPart.Validation),
            Accuracy = test.Accuracy, MacroF1 = test.MacroF1, MetricsJson = "{}", ReportJson = test.ReportJson, CreatedAt = DateTimeOffset.UtcNow,
        };
        foreach (var p in test.Predictions)
            val.Predictions.Add(new RunPrediction { DatasetImageId = p.DatasetImageId, Sha256 = p.Sha256, Label = p.Label, Predicted = p.Predicted, Confidence = p.Confidence, LogitsJson = p.LogitsJson });
        db.RunEvaluations.Add(val);
        await db.Runs.Where(r => r.Id == seed.RunId).ExecuteUpdateAsync(s => s.SetProperty(r => r.ModelPath, "runs/x/model.onnx"), Ct);
        await db.SaveChangesAsync(Ct);
        modelPath = Path.Combine(services.GetRequiredService<StorageOptions>().DataDirectoryFullPath, "runs", "x", "model.onnx");
        var proto = new global::Onnx.ModelProto { IrVersion = 8, Graph = new global::Onnx.GraphProto { Name = "g" } };
        foreach (var (k, v) in new ClassifierOnnxMetadata(ReviewSeed.Labels, 32, 32).ToProperties())
            proto.MetadataProps.Add(new global::Onnx.StringStringEntryProto { Key = k, Value = v });
        ModelProtoFile.Write(proto, modelPath);
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
    }

    [Fact]
    public async Task Recalibrating_writes_the_threshold_into_the_model_and_rebuilds_every_report()
    {
        var calibration = services.GetRequiredService<ModelCalibrationService>();
        var result = await calibration.RecalibrateAsync(seed.RunId, 0.9, Ct);
        Assert.True(result.Fit.ByOriginal);
        Assert.Equal((1.0, 0.0), (result.TemperatureBefore, result.RejectThresholdBefore));
        var metadata = ClassifierOnnxMetadata.Read(modelPath);
        Assert.Equal((result.Fit.Temperature, result.Fit.RejectThreshold, 0.9), (metadata.Temperature, metadata.RejectThreshold, metadata.RejectTargetAccuracy));
        // The seed's g1 is called NEUTROPHIL surely: no threshold under its confidence reaches 90 % by original, so it is left unidentified.
        Assert.InRange(metadata.RejectThreshold, 0.01, 1);

        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync(Ct);
        Assert.Equal(result.Fit.Temperature, (await db.Runs.SingleAsync(r => r.Id == seed.RunId, Ct)).Temperature);
        var evaluations = await db.RunEvaluations.Include(e => e.Predictions).Where(e => e.RunId == seed.RunId && e.Stage == TrainingStage.Model).ToListAsync(Ct);
        Assert.Equal(2, evaluations.Count);
        foreach (var evaluation in evaluations)
        {
            var report = EvaluationService.ReadReport(evaluation);
            Assert.Equal(result.Fit.Temperature, report.Temperature, 9);
            var coverage = Assert.IsType<WbcPortal.Engine.Evaluation.Reject.CoverageReport>(report.Coverage);
            Assert.Equal(metadata.RejectThreshold, coverage.Threshold);
            Assert.Equal(coverage.AtThreshold.Total - coverage.AtThreshold.Decided, coverage.UnidentifiedByClass.Sum());
            Assert.NotNull(report.ByOriginal); // still counted by original
            Assert.Equal(report.Calibrated.Ece, evaluation.Ece);
            foreach (var p in evaluation.Predictions)
            {
                var logits = JsonSerializer.Deserialize<float[]>(p.LogitsJson)!;
                Assert.Equal(WbcPortal.Engine.Evaluation.Calibration.Softmax(logits, result.Fit.Temperature)[p.Predicted], p.Confidence, 9);
            }
        }
        await Assert.ThrowsAsync<ArgumentException>(() => calibration.RecalibrateAsync(seed.RunId, 0.2, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => calibration.RecalibrateAsync(987654, 0.9, Ct));
    }

    [Fact]
    public async Task A_run_without_a_stored_validation_evaluation_is_refused_and_its_model_untouched()
    {
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            await db.RunEvaluations.Where(e => e.RunId == seed.RunId && e.Part == WbcPortal.Engine.Datasets.Splitting.SplitPart.Validation).ExecuteDeleteAsync(Ct);
        }
        byte[] before = await File.ReadAllBytesAsync(modelPath, Ct);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => services.GetRequiredService<ModelCalibrationService>().RecalibrateAsync(seed.RunId, 0.95, Ct));
        Assert.Contains("no stored evaluation of its validation part", error.Message);
        Assert.Equal(before, await File.ReadAllBytesAsync(modelPath, Ct));
    }
}
