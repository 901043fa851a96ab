using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Accounts;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Training;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Evaluation;

/// <summary>What to evaluate a run's model on: a part of a split, or a folder of class folders that was never imported.</summary>
public abstract record EvaluationTarget
{
    public sealed record SplitPart(string Split, Engine.Datasets.Splitting.SplitPart Part) : EvaluationTarget;

    /// <summary>The part of a split as people name it ("train", "val", "test"): refused, naming the parts, when it is none of them.</summary>
    public static SplitPart OfSplit(string split, string part) =>
        new(split, SplitParts.TryParse(part, out var p) ? p : throw new ArgumentException($"Unknown part '{part}'; use train, val or test."));
    /// <param name="Source">What the stored evaluation says it ran on; default the folder (its full path).</param>
    public sealed record Folder(string Path, EvaluationSource? Source = null) : EvaluationTarget;
    /// <summary>A zip of class folders uploaded on the dashboard, copied into its staging <paramref name="Lease"/> (the job takes it over and releases it when it ends).</summary>
    public sealed record UploadedZip(string Name, string ZipPath, Datasets.StagingLease Lease) : EvaluationTarget
    {
        public string StagingFolder => Lease.Folder;
    }
}

/// <summary>Labelled images to evaluate on, with where they came from (and, for a split part, each image's source group by key).</summary>
/// <param name="GroupOfKey">Each image's original: the dataset's source group for a split image, the group the grouper found
/// among a folder's images (copies of one cell in one class folder) for a folder image.</param>
/// <param name="ShaOfFile">A folder image's SHA-256 by key (its pictures are stored under it, <see cref="EvaluationPreviews"/>).</param>
public sealed record EvaluationImages(IReadOnlyList<string> Labels, IReadOnlyList<LabeledImage> Images, EvaluationSource Source, SplitPart? Part,
    IReadOnlyDictionary<int, string> ShaById, IReadOnlyList<(string File, string Reason)> Rejected, IReadOnlyDictionary<string, int?>? GroupOfKey = null,
    IReadOnlyDictionary<string, string>? ShaOfFile = null);

/// <summary>A stored model-stage evaluation with its report; <paramref name="Rejected"/> lists folder files that could not be read.</summary>
public sealed record EvaluationResult(int EvaluationId, int RunId, EvaluationSource Source, EvaluationReport Report, IReadOnlyList<(string File, string Reason)> Rejected);

/// <summary>
/// Evaluates a run's exported ONNX model (the artifact users classify with) on labelled images and stores
/// the report and every prediction. Training ends by calling it on the run's validation and test parts, and the
/// CLI's <c>evaluate</c> and the dashboard call the same code, so their figures agree exactly.
/// </summary>
public sealed class EvaluationService(
    IDbContextFactory<WbcDbContext> contexts,
    StorageOptions storage,
    ImageStore store,
    OnnxSessionFactory sessions,
    BackboneRegistry backbones,
    ImageDecoding decoding,
    Training.RunChanges changes,
    WbcPortal.Engine.Datasets.Grouping.SourceGrouper grouper,
    TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png"];

    /// <summary>Evaluates the run's exported model on <paramref name="target"/> and stores the report and predictions.</summary>
    /// <param name="testTimeAugmentation">Overrides the model's flip averaging (the source then says so), to measure what it adds.</param>
    [Demands(PortalAction.Evaluate)]
    public async Task<EvaluationResult> EvaluateAsync(int runId, EvaluationTarget target, IProgress<(int Done, int Total)>? progress, CancellationToken cancellationToken,
        bool? testTimeAugmentation = null)
    {
        access.Demand(PortalAction.Evaluate);
        using var classifier = await OpenAsync(runId, cancellationToken, testTimeAugmentation);
        var images = await ResolveAsync(classifier.Labels, target, cancellationToken, PreviewsOf(runId));
        if (testTimeAugmentation is bool tta && tta != classifier.Metadata.TestTimeAugmentation)
        {
            images = images with { Source = images.Source.WithFlips(tta) };
        }
        var predictions = await PredictAsync(classifier, images, progress, cancellationToken);
        return await StoreAsync(runId, images, predictions, classifier.Metadata.Temperature, classifier.Metadata.RejectThreshold, cancellationToken);
    }

    /// <summary>The run's exported model, ready to predict.</summary>
    public async Task<OnnxClassifier> OpenAsync(int runId, CancellationToken cancellationToken, bool? testTimeAugmentation = null)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, cancellationToken)
            ?? throw new ArgumentException($"No run {runId}.");
        if (run.ModelPath is null) throw new InvalidOperationException($"Run '{run.Name}' has no exported model yet (it is {run.Status}).");
        return OnnxClassifier.Load(Path.Combine(storage.DataDirectoryFullPath, run.ModelPath), sessions, backbones, testTimeAugmentation);
    }

    /// <summary>Logits of every image, decoded with the hardened limits.</summary>
    public Task<IReadOnlyList<ImagePrediction>> PredictAsync(OnnxClassifier classifier, EvaluationImages images, IProgress<(int Done, int Total)>? progress, CancellationToken cancellationToken) =>
        Task.Run(() => classifier.Predict(images.Images, progress, cancellationToken, decode: path => decoding.DecodeRgb(path, cancellationToken)), cancellationToken);

    /// <summary>The pictures of a run's folder and zip evaluations (the images themselves are never imported).</summary>
    public EvaluationPreviews PreviewsOf(int runId) =>
        new(WbcPortal.Storage.DataFolderLayout.RunFolder(storage.DataDirectoryFullPath, runId));

    /// <summary>
    /// The labelled images of a target, in the model's class order; folder files that do not decode are set aside in
    /// <see cref="EvaluationImages.Rejected"/>. A folder's images are grouped into originals by the dataset grouper (so its
    /// report has by-original figures and its review tiles are originals), and, with <paramref name="previews"/>, their
    /// pictures are stored for the review and the dashboard.
    /// </summary>
    public async Task<EvaluationImages> ResolveAsync(IReadOnlyList<string> labels, EvaluationTarget target, CancellationToken cancellationToken,
        EvaluationPreviews? previews = null)
    {
        Dictionary<string, string>? shaOfFile = null;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        List<LabeledImage> images;
        var rejected = new List<(string, string)>();
        EvaluationSource source;
        SplitPart? part;
        var shaById = new Dictionary<int, string>();
        Dictionary<string, int?>? groupOfKey = null;
        switch (target)
        {
            case EvaluationTarget.SplitPart sp:
            {
                var splitPart = sp.Part;
                var split = await db.Splits.AsNoTracking().Where(s => s.Name == sp.Split || s.Id.ToString() == sp.Split).SingleOrDefaultAsync(cancellationToken)
                    ?? throw new ArgumentException($"No split '{sp.Split}'.");
                var members = await (from m in db.SplitMembers.AsNoTracking()
                                     join i in db.DatasetImages.AsNoTracking() on m.DatasetImageId equals i.Id
                                     where m.SplitId == split.Id && m.Part == splitPart
                                     orderby i.Id
                                     select new { i.Id, i.ClassName, i.Sha256, i.Stored!.Format, i.SourceGroup }).ToListAsync(cancellationToken);
                var unknown = members.Select(m => m.ClassName).Distinct().Where(c => !labels.Contains(c)).ToList();
                if (unknown.Count > 0) throw new ArgumentException($"The model does not know class(es) {string.Join(", ", unknown)}; it was trained on {string.Join(", ", labels)}.");
                images = members.Select(m => new LabeledImage(m.Id.ToString(CultureInfo.InvariantCulture), store.ImagePath(m.Sha256, m.Format), IndexOf(labels, m.ClassName))).ToList();
                foreach (var m in members) shaById[m.Id] = m.Sha256;
                groupOfKey = members.ToDictionary(m => m.Id.ToString(CultureInfo.InvariantCulture), m => m.SourceGroup);
                source = EvaluationSource.Split(split.Name, splitPart);
                part = splitPart;
                break;
            }
            case EvaluationTarget.Folder folder:
            {
                var root = Path.GetFullPath(folder.Path);
                if (!Directory.Exists(root)) throw new ArgumentException($"No folder {folder.Path}.");
                images = [];
                // A link, to a class folder or to a file, is listed with its reason and never followed (it could reach outside).
                var linkedDirs = new DirectoryInfo(root).EnumerateDirectories().Where(d => d.LinkTarget is not null).Select(d => d.Name).Order(StringComparer.Ordinal).ToList();
                foreach (var linked in linkedDirs) rejected.Add((linked, UntrustedFolders.LinkReason));
                var classDirs = new DirectoryInfo(root).EnumerateDirectories().Where(d => d.LinkTarget is null).Select(d => d.FullName).Order(StringComparer.Ordinal).ToList();
                if (classDirs.Count == 0) throw new ArgumentException($"{folder.Path} holds no class folders (expected one folder per class: {string.Join(", ", labels)}){(linkedDirs.Count > 0 ? $"; links to folders are not followed ({string.Join(", ", linkedDirs)})" : "")}.");
                foreach (var dir in classDirs)
                {
                    var name = Path.GetFileName(dir);
                    int label = labels.ToList().FindIndex(l => string.Equals(l, name, StringComparison.OrdinalIgnoreCase));
                    if (label < 0) throw new ArgumentException($"Folder '{name}' is not a class the model knows ({string.Join(", ", labels)}).");
                    foreach (var (file, isLink) in UntrustedFolders.Walk(dir).OrderBy(e => e.FullPath, StringComparer.Ordinal))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var relative = Path.GetRelativePath(root, file);
                        if (Path.GetFileName(file).StartsWith('.')) continue;
                        if (isLink) { rejected.Add((relative, UntrustedFolders.LinkReason)); continue; }
                        // A FIFO, device or socket is never opened (a FIFO blocks the worker); nor is an unreadable file.
                        if (UntrustedFiles.Refusal(file) is { } refusal) { rejected.Add((relative, refusal)); continue; }
                        if (!ImageExtensions.Contains(Path.GetExtension(file).ToLowerInvariant())) { rejected.Add((relative, "not a JPEG or PNG file")); continue; }
                        images.Add(new LabeledImage(relative, file, label));
                    }
                }
                source = folder.Source ?? EvaluationSource.Folder(root);
                part = null;
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(target));
        }
        if (images.Count == 0) throw new ArgumentException($"Nothing to evaluate in {DescribeTarget(target)}.");

        // Folders come from outside: decode with the hardened limits and set aside what does not decode.
        if (target is EvaluationTarget.Folder)
        {
            var readable = new List<LabeledImage>(images.Count);
            shaOfFile = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var image in images)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    byte[] bytes = decoding.ReadFile(image.Path, cancellationToken);
                    using var decoded = decoding.DecodeRgb(bytes, cancellationToken);
                    string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
                    previews?.Write(sha, decoded);
                    shaOfFile[image.Key] = sha;
                    readable.Add(image);
                }
                catch (ImageRejectedException ex)
                {
                    rejected.Add((image.Key, ex.Message));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The reason without the exception's text: it names the server path.
                    rejected.Add((image.Key, ex is UnauthorizedAccessException ? "could not be read: permission denied" : "could not be read"));
                }
            }
            images = readable;
            // The folder's source (an uploaded zip's name), never the server path of where it was unpacked.
            if (images.Count == 0) throw new ArgumentException($"No readable image in {DescribeTarget(target)}: {string.Join("; ", rejected.Take(3).Select(r => $"{r.Item1}: {r.Item2}"))}.");
            groupOfKey = GroupFolder(labels, images, cancellationToken);
        }

        return new EvaluationImages(labels, images, source, part, shaById, rejected, groupOfKey, shaOfFile);
    }

    /// <summary>
    /// A folder's images grouped into originals by the dataset grouper, within each class folder (copies of one cell share
    /// their label); a group of one image is an original of its own.
    /// </summary>
    private Dictionary<string, int?> GroupFolder(IReadOnlyList<string> labels, IReadOnlyList<LabeledImage> images, CancellationToken cancellationToken)
    {
        var found = grouper.Group(images.Select(i => new WbcPortal.Engine.Datasets.Grouping.GroupingInput(i.Key, labels[i.Label], i.Path)).ToList(), null, cancellationToken);
        var groupOf = images.ToDictionary(i => i.Key, _ => (int?)null, StringComparer.Ordinal);
        foreach (var group in found.Groups)
        {
            foreach (var key in group.Keys) groupOf[key] = group.Id;
        }
        return groupOf;
    }

    /// <summary>
    /// Builds the report at <paramref name="temperature"/> (with "Unidentified" under <paramref name="rejectThreshold"/>) and
    /// stores it with every prediction; a repeated evaluation of the same source replaces the earlier one.
    /// </summary>
    [Demands(PortalAction.Evaluate)]
    public async Task<EvaluationResult> StoreAsync(int runId, EvaluationImages images, IReadOnlyList<ImagePrediction> predictions, double temperature, double rejectThreshold,
        CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.Evaluate);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (!await db.Runs.AnyAsync(r => r.Id == runId, cancellationToken)) throw new ArgumentException($"No run {runId}.");
        var labels = images.Labels;
        var report = EvaluationReport.Build(labels, predictions, temperature, images.GroupOfKey, rejectThreshold);
        EvaluationSource source = images.Source;
        SplitPart? part = images.Part;
        var shaById = images.ShaById;
        var rejected = images.Rejected;
        var evaluation = new RunEvaluation
        {
            RunId = runId,
            Stage = TrainingStage.Model,
            Part = part,
            Source = source,
            Accuracy = report.Accuracy,
            MacroF1 = report.MacroF1,
            Ece = report.Calibrated.Ece,
            EceUncalibrated = report.Uncalibrated.Ece,
            MetricsJson = "{}",
            ReportJson = JsonSerializer.Serialize(report, Json),
            CreatedAt = clock.GetUtcNow(),
        };
        foreach (var p in predictions)
        {
            int? imageId = images.Part is not null ? int.Parse(p.Key, CultureInfo.InvariantCulture) : null;
            evaluation.Predictions.Add(new RunPrediction
            {
                DatasetImageId = imageId,
                Sha256 = imageId is int id ? shaById[id] : images.ShaOfFile?.GetValueOrDefault(p.Key),
                File = imageId is null ? p.Key : null,
                Original = images.GroupOfKey?.GetValueOrDefault(p.Key),
                Label = p.Label,
                Predicted = p.Predicted,
                Confidence = Calibration.Softmax(p.Logits, temperature)[p.Predicted],
                LogitsJson = JsonSerializer.Serialize(p.Logits),
            });
        }
        // One transaction: a reader never sees the source with no evaluation, or with two.
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.RunEvaluations.Where(e => e.RunId == runId && e.Stage == TrainingStage.Model).WithSource(source).ExecuteDeleteAsync(cancellationToken);
            db.RunEvaluations.Add(evaluation);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        if (images.ShaOfFile is not null || images.Part is null) await SweepPreviewsAsync(runId, cancellationToken);
        changes.Notify(runId);
        await audit.RecordAsync(AuditAction.Evaluated, $"run {runId}", null, cancellationToken: CancellationToken.None);
        return new EvaluationResult(evaluation.Id, runId, source, report, rejected);
    }

    /// <summary>Deletes the pictures of folder images that no evaluation of the run names any more (one of the same source was replaced).</summary>
    private async Task SweepPreviewsAsync(int runId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var referenced = await db.RunPredictions.AsNoTracking()
            .Where(p => p.DatasetImageId == null && p.Sha256 != null && db.RunEvaluations.Any(e => e.Id == p.EvaluationId && e.RunId == runId))
            .Select(p => p.Sha256!).Distinct().ToListAsync(cancellationToken);
        PreviewsOf(runId).Sweep(referenced.ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>The stored report of a model-stage evaluation.</summary>
    public static EvaluationReport ReadReport(RunEvaluation evaluation) =>
        JsonSerializer.Deserialize<EvaluationReport>(evaluation.ReportJson ?? throw new InvalidOperationException("Not a model-stage evaluation."), Json)
        ?? throw new InvalidDataException("Empty evaluation report.");

    private static int IndexOf(IReadOnlyList<string> labels, string label)
    {
        for (int i = 0; i < labels.Count; i++) if (labels[i] == label) return i;
        return -1;
    }

    private static string DescribeTarget(EvaluationTarget target) => target switch
    {
        EvaluationTarget.SplitPart sp => $"split {sp.Split} / {sp.Part.Name()}",
        EvaluationTarget.Folder f => f.Source?.ToString() ?? f.Path,
        EvaluationTarget.UploadedZip z => EvaluationSource.Zip(z.Name).ToString(),
        _ => "?",
    };
}
