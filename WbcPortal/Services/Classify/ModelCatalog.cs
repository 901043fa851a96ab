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
public sealed record ModelCard(int Id, string Name, bool Active, DateTimeOffset CreatedAt, int? RunId, string? RunName, string? Dataset, string? Split,
    IReadOnlyList<string> Labels, int InputHeight, int InputWidth, string? Crop, string Backbone, double Temperature, double RejectThreshold,
    double RejectTargetAccuracy, bool TestTimeAugmentation, long FileBytes, bool FileMissing, ModelFigures? Figures, bool CrossValidationFold);

/// <summary>The registered models as cards, which one is active, and their ONNX files.</summary>
public sealed class ModelCatalog(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage)
{
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
    public async Task ActivateAsync(int id, CancellationToken cancellationToken = default)
    {
        if (storage.ReadOnly) throw new InvalidOperationException("This portal is read-only: the active model is chosen on the portal that holds the data folder.");
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var model = await db.Models.SingleOrDefaultAsync(m => m.Id == id, cancellationToken) ?? throw new ArgumentException($"No model {id}.");
        if (!File.Exists(FullPath(model.OnnxPath))) throw new InvalidOperationException($"Model '{model.Name}' has lost its ONNX file ({model.OnnxPath}); it cannot be made active.");
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.Models.Where(m => m.IsActive && m.Id != id).ExecuteUpdateAsync(s => s.SetProperty(m => m.IsActive, false), cancellationToken);
            await db.Models.Where(m => m.Id == id).ExecuteUpdateAsync(s => s.SetProperty(m => m.IsActive, true), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
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
                .Where(e => e.RunId == run.Id && e.Stage == RunEvaluation.ModelStage && e.ReportJson != null && (e.Part == SplitParts.Test || e.Part == SplitParts.Val))
                .ToListAsync(cancellationToken);
            var own = evaluations.FirstOrDefault(e => e.Part == SplitParts.Test && e.Source == $"split {run.Split?.Name} / test")
                ?? evaluations.FirstOrDefault(e => e.Part == SplitParts.Val && e.Source == $"split {run.Split?.Name} / val");
            if (own is not null)
            {
                var r = EvaluationService.ReadReport(own);
                var byOriginal = r.ByOriginal;
                figures = new ModelFigures(own.Source ?? own.Part, r.Total, byOriginal?.Originals, r.Accuracy, byOriginal?.AccuracyCi ?? r.AccuracyCi, byOriginal is not null,
                    r.MacroF1, r.Calibrated.Ece, r.Coverage is { Threshold: > 0 } c ? c.AtThreshold.Coverage : null, r.Coverage is { Threshold: > 0 } s ? s.AtThreshold.Accuracy : null);
            }
        }
        var labels = metadata?.Labels ?? model.Labels.Split(',', StringSplitOptions.RemoveEmptyEntries);
        return new ModelCard(model.Id, model.Name, model.IsActive, model.CreatedAt, run?.Id, run?.Name, run?.Split?.Dataset?.Name, run?.Split?.Name, labels,
            metadata?.InputHeight ?? model.InputHeight, metadata?.InputWidth ?? model.InputWidth,
            metadata?.Crop is { Enabled: true } crop ? $"cell window {crop.Size:0.##} of the short side" : null,
            metadata?.Backbone ?? "?", metadata?.Temperature ?? 1, metadata?.RejectThreshold ?? 0, metadata?.RejectTargetAccuracy ?? 0, metadata?.TestTimeAugmentation ?? false,
            missing ? 0 : new FileInfo(path).Length, missing, figures, run?.CrossValidationId is not null);
    }
}
