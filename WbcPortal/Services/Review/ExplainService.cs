using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Explain;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Training;
using WbcPortal.Options;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Review;

/// <summary>What the detail view asks for: the window the model saw, or that window under the Grad-CAM map.</summary>
public enum ExplainView
{
    Window,
    GradCam,
}

/// <summary>
/// "Why" for one image of a run: the window the model sees, and a Grad-CAM map from the run's own trained network
/// (<see cref="GradCamExplainer"/>), as PNG. Only for a run that succeeded and kept its checkpoint.
/// </summary>
public sealed class ExplainService(IDbContextFactory<WbcDbContext> contexts, GradCamExplainer explainer, ImageDecoding decoding, ImageStore store, StorageOptions storage)
{
    // One at a time: each explanation loads a network and runs it forward and back, and a reviewer walking tiles with
    // Grad-CAM on asks for one per key press; queued requests wait instead of crowding the CPU a training run may need.
    private readonly SemaphoreSlim gate = new(1, 1);

    /// <summary>The PNG, or null when the run or image is unknown. Throws <see cref="ArgumentException"/> with the reason when it cannot be explained.</summary>
    public async Task<byte[]?> RenderAsync(int runId, int imageId, int? targetClass, ExplainView view, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.Status, r.ConfigJson, r.CheckpointDirectory }).SingleOrDefaultAsync(cancellationToken);
        var image = await db.DatasetImages.AsNoTracking().Where(i => i.Id == imageId).Select(i => new { i.Sha256, i.Stored!.Format }).SingleOrDefaultAsync(cancellationToken);
        if (run is null || image is null) return null;
        if (run.Status != RunStatus.Succeeded) throw new ArgumentException($"The run is {run.Status}: only a finished run's network can be explained.");
        var reportJson = await db.RunEvaluations.AsNoTracking().Where(e => e.RunId == runId && e.Stage == RunEvaluation.ModelStage && e.ReportJson != null)
            .Select(e => e.ReportJson).FirstOrDefaultAsync(cancellationToken) ?? throw new ArgumentException("The run has no evaluated model to explain.");
        var labels = JsonSerializer.Deserialize<EvaluationReport>(reportJson, EvaluationService.Json)!.Labels;
        var config = TrainingConfig.FromJson(run.ConfigJson);
        string weights;
        try
        {
            weights = GradCamExplainer.WeightsOf(Path.Combine(storage.DataDirectoryFullPath, run.CheckpointDirectory));
        }
        catch (FileNotFoundException ex)
        {
            throw new ArgumentException($"The run's network is not on disk any more ({ex.Message}).");
        }
        string path = store.ImagePath(image.Sha256, image.Format);
        if (!File.Exists(path)) return null;
        byte[] bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        await gate.WaitAsync(cancellationToken);
        try
        {
            return await Render(bytes, weights, config, labels.Count, targetClass, view, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    private Task<byte[]> Render(byte[] bytes, string weights, TrainingConfig config, int classes, int? targetClass, ExplainView view, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            using var decoded = decoding.DecodeRgb(bytes, cancellationToken);
            var result = view == ExplainView.GradCam ? explainer.Explain(weights, config, classes, decoded, targetClass) : null;
            var empty = new GradCamResult(0, new float[1, 1], 0, 0);
            var (window, overlay) = GradCamExplainer.Render(decoded, config, result ?? empty);
            using (window)
            using (overlay)
            using (var ms = new MemoryStream())
            {
                (view == ExplainView.GradCam ? overlay : window).SaveAsPng(ms);
                return ms.ToArray();
            }
        }, cancellationToken);
}
