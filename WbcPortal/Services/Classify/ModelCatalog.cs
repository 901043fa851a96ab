using WbcPortal.Engine.Training;
using WbcPortal.Services.Accounts;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Options;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Classify;

/// <summary>What a model was judged on: its run's test part (or validation, when it has no test part).</summary>
/// <param name="AccuracyCi">The accuracy's 95 % interval, by original when the images have originals.</param>
/// <param name="Coverage">Share decided at the model's threshold; <paramref name="SelectiveAccuracy"/> accuracy on those.</param>
public sealed record ModelFigures(string Source, int Images, int? Originals, double Accuracy, Interval AccuracyCi, bool CiByOriginal, double MacroF1, double Ece,
    double? Coverage, double? SelectiveAccuracy);

/// <summary>A model's card: where it comes from, what it expects, how it is calibrated and how well it did.</summary>
/// <param name="Imported">Imported from an ONNX file made elsewhere (Models page): no run of this portal made it, so no figures.</param>
/// <param name="Format">The file's interface (README "The model format"): 2, self-contained (input <c>window</c> uint8 [N, H, W, 3] RGB); 1, an older
/// export taking the prepared float tensor (its download is upgraded to 2); absent when the file is missing or unreadable.</param>
public sealed record ModelCard(int Id, string Name, bool Active, DateTimeOffset CreatedAt, int? RunId, string? RunName, string? Dataset, string? Split,
    IReadOnlyList<string> Labels, int InputHeight, int InputWidth, string? Crop, string Backbone, double Temperature, double RejectThreshold,
    double RejectTargetAccuracy, bool TestTimeAugmentation, long FileBytes, bool FileMissing, ModelFigures? Figures, bool CrossValidationFold,
    bool Imported, int? Format, string? AveragedCrossValidation = null);

/// <summary>Why a model was not imported: one sentence per reason, to show as they are. Nothing was stored.</summary>
public sealed class ModelImportRefusedException(IReadOnlyList<string> reasons)
    : InvalidOperationException(string.Join(" ", reasons))
{
    public IReadOnlyList<string> Reasons { get; } = reasons;
}

/// <summary>The registered models as cards, which one is active, and their ONNX files; imports ONNX classifiers made elsewhere.</summary>
public sealed class ModelCatalog(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage, InferenceOptions inference, ClassifierOnnxValidator validator,
    TimeProvider clock, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    /// <summary>Where imported models live, relative to the data folder (with '/', as stored in <see cref="RegisteredModel.OnnxPath"/>).</summary>
    public const string ImportFolder = "models/imported";

    /// <summary>The longest model name (the column's length).</summary>
    public const int MaxNameLength = 200;

    public long MaxImportBytes => inference.MaxImportBytes;

    /// <summary>
    /// Imports the ONNX classifier in <paramref name="content"/> as model <paramref name="name"/>, not active: read up to
    /// <see cref="InferenceOptions.MaxImportBytes"/>, checked by <see cref="ClassifierOnnxValidator"/> (interface,
    /// metadata, one test run), written under <see cref="ImportFolder"/> as a new file (atomically, never over another),
    /// then registered. Every refusal is a <see cref="ModelImportRefusedException"/>; on any failure nothing is kept.
    /// </summary>
    /// <param name="length">The content's length when known (a browser file's size): a file over the limit is refused before it is read.</param>
    /// <param name="bytesRead">Bytes read so far, as they arrive.</param>
    [Demands(PortalAction.ManageModels)]
    public async Task<ModelCard> ImportAsync(string name, Stream content, long? length = null, IProgress<long>? bytesRead = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageModels);
        ArgumentNullException.ThrowIfNull(content);
        if (storage.ReadOnly) throw new ModelImportRefusedException([storage.ReadOnlyRefusal("models are imported on the portal that holds the data folder")]);
        name = (name ?? "").Trim();
        await EnsureNameFreeAsync(name, cancellationToken);
        long max = inference.MaxImportBytes;
        if (length > max) throw new ModelImportRefusedException([TooLarge(length.Value, max)]);

        var bytes = await ReadBoundedAsync(content, length, max, bytesRead, cancellationToken);
        var check = await Task.Run(() => validator.Validate(bytes, cancellationToken), cancellationToken);
        if (!check.Fits) throw new ModelImportRefusedException(check.Problems);
        var metadata = check.Metadata!;

        string relative = await Task.Run(() => WriteNewFile(name, bytes), cancellationToken);
        string full = FullPath(relative);
        try
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var model = new RegisteredModel
            {
                Name = name,
                OnnxPath = relative,
                Labels = string.Join(",", metadata.Labels),
                InputHeight = metadata.InputHeight,
                InputWidth = metadata.InputWidth,
                IsActive = false,
                CreatedAt = clock.GetUtcNow(),
            };
            db.Models.Add(model);
            await db.SaveChangesAsync(cancellationToken);
            await audit.RecordAsync(AuditAction.ModelImported, $"model {model.Id} '{name}'", null, cancellationToken: CancellationToken.None);
            return await CardAsync(db, model, cancellationToken);
        }
        catch (Exception ex)
        {
            try { File.Delete(full); }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { /* the row was not added: the file is only unused */ }
            // Another import took the name between the check and the insert: the unique index refused this one.
            if (UserFacingError.IsUniqueViolation(ex)) throw new ModelImportRefusedException([NameTaken(name)]);
            throw;
        }
    }

    private async Task EnsureNameFreeAsync(string name, CancellationToken cancellationToken)
    {
        string? problem = name switch
        {
            "" => "Give the model a name.",
            { Length: > MaxNameLength } => $"A model name is at most {MaxNameLength} characters.",
            _ when name.Any(char.IsControl) => "A model name cannot hold control characters.",
            // The API and the CLI read a number as a model id.
            _ when name.All(char.IsAsciiDigit) => "A model name of digits only would be read as a model id; add a letter.",
            _ => null,
        };
        if (problem is not null) throw new ModelImportRefusedException([problem]);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (await db.Models.AnyAsync(m => m.Name == name, cancellationToken)) throw new ModelImportRefusedException([NameTaken(name)]);
    }

    private static string NameTaken(string name) => $"A model named '{name}' already exists; choose another name.";

    private static string TooLarge(long bytes, long max) =>
        $"The file is {ClassifierOnnxValidator.FileSize(bytes)}; models of up to {ClassifierOnnxValidator.FileSize(max)} are imported (Inference:MaxImportBytes).";

    /// <summary>The whole content, refused as soon as it passes <paramref name="max"/> bytes.</summary>
    private static async Task<byte[]> ReadBoundedAsync(Stream content, long? length, long max, IProgress<long>? bytesRead, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream(length is > 0 and var l && l <= max ? (int)l : 0);
        var chunk = new byte[1 << 20];
        long total = 0;
        int n;
        while ((n = await content.ReadAsync(chunk, cancellationToken)) > 0)
        {
            total += n;
            if (total > max)
            {
                throw new ModelImportRefusedException([length is { } known && known > max
                    ? TooLarge(known, max)
                    : $"The file is larger than {ClassifierOnnxValidator.FileSize(max)}, the largest model imported (Inference:MaxImportBytes)."]);
            }
            buffer.Write(chunk, 0, n);
            bytesRead?.Report(total);
        }
        return buffer.Length == buffer.Capacity ? buffer.GetBuffer() : buffer.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to a new file under <see cref="ImportFolder"/> named after the model (safe characters
    /// only, a number added when the name is taken): a temporary file beside it, flushed, then moved to a name no file has.
    /// Returns its path relative to the data folder.
    /// </summary>
    private string WriteNewFile(string name, byte[] bytes)
    {
        string folder = Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, ImportFolder));
        Directory.CreateDirectory(folder);
        string stem = Endpoints.ReportEndpoints.SafeStem(name, "model");
        if (stem.Length > 80) stem = stem[..80].TrimEnd('.', '-');
        string temp = Path.Combine(folder, $".{stem}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            for (int n = 1; n < 10_000; n++)
            {
                string file = n == 1 ? $"{stem}.onnx" : $"{stem}-{n}.onnx";
                string target = Path.GetFullPath(Path.Combine(folder, file));
                if (Path.GetDirectoryName(target) != folder) throw new InvalidOperationException($"The file name {file} would leave the data folder.");
                if (File.Exists(target)) continue;
                try
                {
                    File.Move(temp, target, overwrite: false);
                    return $"{ImportFolder}/{file}";
                }
                catch (IOException) when (File.Exists(target))
                {
                    // Taken meanwhile by another import: try the next name.
                }
            }
            throw new IOException($"No free file name for '{stem}' in {ImportFolder}.");
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public async Task<IReadOnlyList<ModelCard>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var models = await db.Models.AsNoTracking().OrderByDescending(m => m.IsActive).ThenByDescending(m => m.Id).ToListAsync(cancellationToken);
        var cards = new List<ModelCard>(models.Count);
        foreach (var model in models) cards.Add(await CardAsync(db, model, cancellationToken));
        return cards;
    }

    public async Task<ModelCard?> GetAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var model = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id, cancellationToken);
        return model is null ? null : await CardAsync(db, model, cancellationToken);
    }

    /// <summary>Makes model <paramref name="id"/> the one the portal and the API classify with (one transaction: never none or two).</summary>
    [Demands(PortalAction.ManageModels)]
    public async Task ActivateAsync(int id, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageModels);
        if (storage.ReadOnly) throw new InvalidOperationException(storage.ReadOnlyRefusal("the active model is chosen on the portal that holds the data folder"));
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var model = await db.Models.SingleOrDefaultAsync(m => m.Id == id, cancellationToken) ?? throw new ArgumentException($"No model {id}.");
        if (!File.Exists(FullPath(model.OnnxPath))) throw new InvalidOperationException($"Model '{model.Name}' has lost its ONNX file ({model.OnnxPath}); it cannot be made active.");
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.Models.Where(m => m.IsActive && m.Id != id).ExecuteUpdateAsync(s => s.SetProperty(m => m.IsActive, false), cancellationToken);
            await db.Models.Where(m => m.Id == id).ExecuteUpdateAsync(s => s.SetProperty(m => m.IsActive, true), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        await audit.RecordAsync(AuditAction.ModelActivated, $"model {id}", null, cancellationToken: CancellationToken.None);
    }

    /// <summary>The model's ONNX file on disk and a download name, or null for an unknown model or a missing file.</summary>
    public async Task<(string Path, string FileName)?> OnnxFileAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var model = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id, cancellationToken);
        if (model is null) return null;
        string path = FullPath(model.OnnxPath);
        return File.Exists(path) ? (path, $"{Endpoints.ReportEndpoints.SafeStem(model.Name, "model")}.onnx") : null;
    }

    private string FullPath(string relative) => Path.GetFullPath(Path.Combine(storage.DataDirectoryFullPath, relative));

    private async Task<ModelCard> CardAsync(WbcDbContext db, RegisteredModel model, CancellationToken cancellationToken)
    {
        string path = FullPath(model.OnnxPath);
        bool missing = !File.Exists(path);
        ClassifierOnnxMetadata? metadata = null;
        if (!missing)
        {
            try { metadata = ClassifierOnnxMetadata.Read(path); }
            catch (Exception ex) when (ex is InvalidDataException or IOException or Google.Protobuf.InvalidProtocolBufferException) { missing = true; }
        }
        var run = await db.Runs.AsNoTracking().Include(r => r.Split).ThenInclude(s => s!.Dataset).FirstOrDefaultAsync(r => r.ModelPath == model.OnnxPath, cancellationToken);
        ModelFigures? figures = null;
        if (run is not null)
        {
            var evaluations = await db.RunEvaluations.AsNoTracking()
                .Where(e => e.RunId == run.Id && e.Stage == TrainingStage.Model && e.ReportJson != null && (e.Part == SplitPart.Test || e.Part == SplitPart.Validation))
                .ToListAsync(cancellationToken);
            var own = run.Split is not { } split ? null
                : evaluations.FirstOrDefault(e => e.Part == SplitPart.Test && e.Source == EvaluationSource.Split(split.Name, SplitPart.Test))
                  ?? evaluations.FirstOrDefault(e => e.Part == SplitPart.Validation && e.Source == EvaluationSource.Split(split.Name, SplitPart.Validation));
            if (own is not null)
            {
                var r = EvaluationService.ReadReport(own);
                var byOriginal = r.ByOriginal;
                figures = new ModelFigures(own.SourceTitle, r.Total, byOriginal?.Originals, r.Accuracy, byOriginal?.AccuracyCi ?? r.AccuracyCi, byOriginal is not null,
                    r.MacroF1, r.Calibrated.Ece, r.Coverage is { Threshold: > 0 } c ? c.AtThreshold.Coverage : null, r.Coverage is { Threshold: > 0 } s ? s.AtThreshold.DecidedAccuracy : null);
            }
        }
        if (run is null && model.ReportJson is not null)
        {
            // A model no run made (a cross-validation's fold models averaged) carries its own report on the part it was judged on.
            var r = JsonSerializer.Deserialize<EvaluationReport>(model.ReportJson, EvaluationService.Json)!;
            var byOriginal = r.ByOriginal;
            figures = new ModelFigures(model.ReportSource ?? "held-out part", r.Total, byOriginal?.Originals, r.Accuracy, byOriginal?.AccuracyCi ?? r.AccuracyCi, byOriginal is not null,
                r.MacroF1, r.Calibrated.Ece, r.Coverage is { Threshold: > 0 } c ? c.AtThreshold.Coverage : null, r.Coverage is { Threshold: > 0 } s ? s.AtThreshold.DecidedAccuracy : null);
        }
        var labels = metadata?.Labels ?? model.Labels.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var averaged = model.CrossValidationId is int cvId
            ? await db.CrossValidations.AsNoTracking().Where(c => c.Id == cvId).Select(c => new { c.Name, Split = c.SourceSplit!.Name, Dataset = c.SourceSplit.Dataset!.Name }).FirstOrDefaultAsync(cancellationToken)
            : null;
        return new ModelCard(model.Id, model.Name, model.IsActive, model.CreatedAt, run?.Id, run?.Name, run?.Split?.Dataset?.Name ?? averaged?.Dataset, run?.Split?.Name ?? averaged?.Split, labels,
            metadata?.InputHeight ?? model.InputHeight, metadata?.InputWidth ?? model.InputWidth,
            metadata?.Crop is { Enabled: true } crop ? $"cell window {crop.Size:0.##} of the short side" : null,
            metadata?.Backbone ?? "?", metadata?.Temperature ?? 1, metadata?.RejectThreshold ?? 0, metadata?.RejectTargetAccuracy ?? 0, metadata?.TestTimeAugmentation ?? false,
            missing ? 0 : new FileInfo(path).Length, missing, figures, run?.CrossValidationId is not null,
            model.OnnxPath.StartsWith(ImportFolder + "/", StringComparison.Ordinal), metadata?.Format, averaged?.Name);
    }
}
