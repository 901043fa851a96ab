using WbcPortal.Services.Accounts;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Inference.Serving;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Services.Classify;

/// <summary>A model to classify with: a registered model (by id or name), a run's model (by id or name), or, for the CLI only, an ONNX file.</summary>
public sealed record ModelChoice(string Name, string Path, int? ModelId, int? RunId);

/// <summary>One image to classify: its name as the caller gave it, and its bytes.</summary>
public sealed record PredictionInput(string File, byte[] Bytes);

/// <summary>One image's answer, or why it has none (the other images of the batch still get theirs).</summary>
public sealed record PredictionOutcome(string File, CellPrediction? Prediction, string? Error);

/// <summary>A classified batch: the model it ran on, its labels and threshold, and one outcome per input, in input order.</summary>
public sealed record PredictionBatch(ModelChoice Model, IReadOnlyList<string> Labels, double RejectThreshold, double Temperature, IReadOnlyList<PredictionOutcome> Outcomes);

/// <summary>
/// Classifies images with an exported model through <see cref="ModelServing"/>: every image decoded with the hardened
/// limits, sent to the model's micro-batcher concurrently (so one request's images, and concurrent requests, share
/// batched runs), answered with its calibrated probabilities and "Unidentified" under the model's threshold. An image
/// that does not decode gets its own error; the rest of the batch is answered.
/// </summary>
public sealed class PredictionService(IDbContextFactory<WbcDbContext> contexts, ModelServing serving, ImageDecoding decoding, Accounts.AccessControl access,
    DatabaseChanges changes)
{
    /// <summary>The active model as last read, and the database's version it was read at.</summary>
    private sealed record ActiveModel(long Version, ModelChoice? Choice);

    private ActiveModel? active;

    /// <summary>
    /// The active model, or null when none is. Read again whenever the database has changed since (<see cref="DatabaseChanges"/>:
    /// a model made active, renamed or deleted, by this process or another), so a request never gets the one before.
    /// </summary>
    public async Task<ModelChoice?> ActiveAsync(CancellationToken cancellationToken)
    {
        // The version is read before the database: a change committed in between makes the next call read it again.
        long? version = changes.Version();
        if (version is { } now && Volatile.Read(ref active) is { } known && known.Version == now) return known.Choice;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var model = await db.Models.AsNoTracking().Where(m => m.IsActive).OrderByDescending(m => m.Id).FirstOrDefaultAsync(cancellationToken);
        var choice = model is null ? null : await ChoiceAsync(db, model, cancellationToken);
        if (version is { } read) Volatile.Write(ref active, new ActiveModel(read, choice));
        return choice;
    }

    /// <summary>
    /// A registered model by id or name, else a run's model by id or name; with <paramref name="allowFile"/> (the CLI), also
    /// an .onnx file on disk. Unknown names are an <see cref="ArgumentException"/> naming what was tried.
    /// </summary>
    public async Task<ModelChoice> ResolveAsync(string reference, bool allowFile, CancellationToken cancellationToken)
    {
        // A file first: it needs no database (a data folder never used).
        if (allowFile && reference.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && File.Exists(reference))
        {
            return new ModelChoice(System.IO.Path.GetFileNameWithoutExtension(reference), System.IO.Path.GetFullPath(reference), null, null);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        bool isNumber = int.TryParse(reference, NumberStyles.None, CultureInfo.InvariantCulture, out int id);
        var model = await db.Models.AsNoTracking().Where(m => m.Name == reference || (isNumber && m.Id == id)).OrderBy(m => m.Id).FirstOrDefaultAsync(cancellationToken);
        if (model is not null) return await ChoiceAsync(db, model, cancellationToken);
        var run = await db.Runs.AsNoTracking().Where(r => r.Name == reference || (isNumber && r.Id == id)).FirstOrDefaultAsync(cancellationToken);
        if (run is not null)
        {
            if (run.ModelPath is null) throw new ArgumentException($"Run '{run.Name}' has no exported model (it is {run.Status}).");
            var registered = await db.Models.AsNoTracking().Where(m => m.OnnxPath == run.ModelPath).Select(m => (int?)m.Id).FirstOrDefaultAsync(cancellationToken);
            return new ModelChoice(run.Name, run.ModelPath, registered, run.Id);
        }
        throw new ArgumentException(allowFile
            ? $"No model, run or .onnx file '{reference}'."
            : $"No model or run '{reference}'.");
    }

    private static async Task<ModelChoice> ChoiceAsync(WbcDbContext db, WbcPortal.Storage.Entities.RegisteredModel model, CancellationToken cancellationToken)
    {
        var runId = await db.Runs.AsNoTracking().Where(r => r.ModelPath == model.OnnxPath).Select(r => (int?)r.Id).FirstOrDefaultAsync(cancellationToken);
        return new ModelChoice(model.Name, model.OnnxPath, model.Id, runId);
    }

    /// <summary>
    /// Classifies <paramref name="inputs"/> with <paramref name="model"/>; <paramref name="progress"/> counts images answered.
    /// Each decode waits for room in the process's decode budget as <paramref name="wait"/> says: a request (<see cref="DecodeWait.Bounded"/>)
    /// is refused whole with <see cref="DecodeBudgetBusyException"/> when one of its images found no room in time.
    /// </summary>
    [Demands(PortalAction.Classify)]
    public async Task<PredictionBatch> PredictAsync(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IProgress<int>? progress, CancellationToken cancellationToken,
        DecodeWait wait = DecodeWait.UntilFree)
    {
        access.Demand(PortalAction.Classify);
        using var lease = await serving.AcquireAsync(model.Path, cancellationToken);
        var metadata = lease.Model.Classifier.Metadata;
        int done = 0;
        var outcomes = await Task.WhenAll(inputs.Select(async input =>
        {
            try
            {
                // One image is decoded on the caller's thread (no hop); several are decoded side by side.
                using var image = inputs.Count == 1
                    ? await decoding.DecodeRgbAsync(input.Bytes, wait, cancellationToken)
                    : await Task.Run(() => decoding.DecodeRgbAsync(input.Bytes, wait, cancellationToken), cancellationToken);
                var prediction = await lease.PredictAsync(image, cancellationToken);
                return new PredictionOutcome(input.File, prediction, null);
            }
            catch (Exception ex) when (ex is ImageRejectedException or SixLabors.ImageSharp.ImageFormatException or InvalidDataException or NotSupportedException)
            {
                return new PredictionOutcome(input.File, null, ex.Message);
            }
            finally
            {
                progress?.Report(Interlocked.Increment(ref done));
            }
        }));
        return new PredictionBatch(model, metadata.Labels, metadata.RejectThreshold, metadata.Temperature, outcomes);
    }

    /// <summary>
    /// The window the model sees for one image (README "The model format": the window rule of its <c>wbc.crop.*</c> metadata),
    /// as a PNG of <c>input_width x input_height</c> RGB pixels: the bytes a self-contained model's <c>window</c> input takes.
    /// </summary>
    [Demands(PortalAction.Classify)]
    public async Task<byte[]> WindowPngAsync(ModelChoice model, PredictionInput input, CancellationToken cancellationToken, DecodeWait wait = DecodeWait.UntilFree)
    {
        access.Demand(PortalAction.Classify);
        using var lease = await serving.AcquireAsync(model.Path, cancellationToken);
        var classifier = lease.Model.Classifier;
        byte[] window;
        using (var image = await decoding.DecodeRgbAsync(input.Bytes, wait, cancellationToken)) window = classifier.WindowBytes(image);
        using var picture = SixLabors.ImageSharp.Image.LoadPixelData<SixLabors.ImageSharp.PixelFormats.Rgb24>(window, classifier.Metadata.InputWidth, classifier.Metadata.InputHeight);
        using var stream = new MemoryStream();
        await SixLabors.ImageSharp.ImageExtensions.SaveAsPngAsync(picture, stream, cancellationToken);
        return stream.ToArray();
    }

    /// <summary>The metadata of a model's file (labels, input, threshold), read without loading a session.</summary>
    public static ClassifierOnnxMetadata ReadMetadata(string fullPath) => ClassifierOnnxMetadata.Read(fullPath);
}
