using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Explain;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Onnx;
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
        // A class the model does not have is the link's fault: say so before anything is read.
        if (targetClass is not null && await LabelsAsync(db, runId, cancellationToken) is { } known) CheckClass(targetClass, known);
        var image = await db.DatasetImages.AsNoTracking().Where(i => i.Id == imageId).Select(i => new { i.Sha256, i.Stored!.Format }).SingleOrDefaultAsync(cancellationToken);
        if (image is null) return null;
        string path = store.ImagePath(image.Sha256, image.Format);
        if (!File.Exists(path)) return null;
        return await RenderAsync(runId, await File.ReadAllBytesAsync(path, cancellationToken), targetClass, view, cancellationToken);
    }

    /// <summary>Why a run's network cannot be explained (not finished, not evaluated, weights gone), or null when it can.</summary>
    public async Task<string?> WhyNotAsync(int runId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.Status, r.CheckpointDirectory }).SingleOrDefaultAsync(cancellationToken);
        if (run is null) return "the model's run is no longer stored";
        if (run.Status != RunStatus.Succeeded) return $"the run is {run.Status}";
        try
        {
            GradCamExplainer.WeightsOf(Path.Combine(storage.DataDirectoryFullPath, run.CheckpointDirectory));
            return null;
        }
        catch (FileNotFoundException)
        {
            return "the run's network (its checkpoint) is not on disk any more";
        }
    }

    /// <summary>
    /// The same for an image given as bytes (an upload on the Classify page): null when the run is unknown; an
    /// <see cref="ArgumentException"/> with the reason when the run cannot be explained or the bytes are not an image.
    /// </summary>
    /// <param name="isWindow">The bytes are already the window the model saw (a smear's cell): the network sees them whole, resized, with no cell search.</param>
    public async Task<byte[]?> RenderAsync(int runId, byte[] bytes, int? targetClass, ExplainView view, CancellationToken cancellationToken = default, bool isWindow = false)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.Status, r.ConfigJson, r.CheckpointDirectory }).SingleOrDefaultAsync(cancellationToken);
        if (run is null) return null;
        if (run.Status != RunStatus.Succeeded) throw new ArgumentException($"The run is {run.Status}: only a finished run's network can be explained.");
        var reportJson = await db.RunEvaluations.AsNoTracking().Where(e => e.RunId == runId && e.Stage == TrainingStage.Model && e.ReportJson != null)
            .Select(e => e.ReportJson).FirstOrDefaultAsync(cancellationToken) ?? throw new ArgumentException("The run has no evaluated model to explain.");
        var labels = JsonSerializer.Deserialize<EvaluationReport>(reportJson, EvaluationService.Json)!.Labels;
        CheckClass(targetClass, labels);
        var config = TrainingConfig.FromJson(run.ConfigJson);
        if (isWindow) config = config with { Crop = CellCropSpec.None };
        string weights;
        try
        {
            weights = GradCamExplainer.WeightsOf(Path.Combine(storage.DataDirectoryFullPath, run.CheckpointDirectory));
        }
        catch (FileNotFoundException)
        {
            // The exception names the server's folder: not for the response.
            throw new ArgumentException("The run's network (its checkpoint) is not on disk any more.");
        }
        await gate.WaitAsync(cancellationToken);
        try
        {
            return await Render(bytes, weights, config, labels.Count, targetClass, view, cancellationToken);
        }
        catch (Exception ex) when (ex is ImageRejectedException or SixLabors.ImageSharp.ImageFormatException or InvalidDataException)
        {
            throw new ArgumentException($"Not an image that can be read: {ex.Message}", ex);
        }
        finally
        {
            gate.Release();
        }
    }

    private static async Task<IReadOnlyList<string>?> LabelsAsync(WbcDbContext db, int runId, CancellationToken cancellationToken)
    {
        var reportJson = await db.RunEvaluations.AsNoTracking().Where(e => e.RunId == runId && e.Stage == TrainingStage.Model && e.ReportJson != null)
            .Select(e => e.ReportJson).FirstOrDefaultAsync(cancellationToken);
        return reportJson is null ? null : JsonSerializer.Deserialize<EvaluationReport>(reportJson, EvaluationService.Json)!.Labels;
    }

    private static void CheckClass(int? targetClass, IReadOnlyList<string> labels)
    {
        if (targetClass is { } c && (c < 0 || c >= labels.Count))
            throw new ExplainRequestException($"There is no class {c}: the model's classes are 0 to {labels.Count - 1} ({string.Join(", ", labels.Select((l, i) => $"{i} {l}"))}).");
    }

    /// <summary>The window a model sees of an image, from the model's own metadata (crop and input size): for any model, a run of this portal or not.</summary>
    public Task<byte[]> RenderWindowAsync(byte[] bytes, ClassifierOnnxMetadata metadata, CancellationToken cancellationToken = default) =>
        Task.Run(() =>
        {
            try
            {
                using var decoded = decoding.DecodeRgb(bytes, cancellationToken);
                var view = new ModelView(metadata.Crop ?? CellCropSpec.None, metadata.InputHeight, metadata.InputWidth);
                using var window = view.Window(decoded);
                using var centre = view.Center(window);
                using var ms = new MemoryStream();
                centre.SaveAsPng(ms);
                return ms.ToArray();
            }
            catch (Exception ex) when (ex is ImageRejectedException or SixLabors.ImageSharp.ImageFormatException or InvalidDataException)
            {
                throw new ArgumentException($"Not an image that can be read: {ex.Message}", ex);
            }
        }, cancellationToken);

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

/// <summary>A request to explain that cannot be right whatever is stored (a class the model does not have): a 400, not a 422.</summary>
public sealed class ExplainRequestException(string message) : ArgumentException(message);
