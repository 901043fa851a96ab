using WbcPortal.Engine.Training;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Services.Evaluation;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Tests.Support;

/// <summary>
/// A stored run evaluation to review, written straight into the real database: dataset "review-cells" with four classes
/// and source groups, a split, a run, its test evaluation and per-image predictions.
/// <list type="bullet">
/// <item>g1: EOSINOPHIL, 6 images in the dataset, 4 evaluated, all called NEUTROPHIL (surely);</item>
/// <item>g2: EOSINOPHIL, 3 images, all right;</item>
/// <item>g3: NEUTROPHIL, 5 images, 1 called EOSINOPHIL;</item>
/// <item>g4: LYMPHOCYTE, 3 images, 2 called MONOCYTE;</item>
/// <item>g5: MONOCYTE, 3 images, all right.</item>
/// </list>
/// </summary>
public sealed record ReviewSeed(int DatasetId, int RunId, int EvaluationId, IReadOnlyDictionary<int, int[]> ImagesOfGroup)
{
    public static readonly string[] Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];

    public static async Task<ReviewSeed> WriteAsync(IServiceProvider services, string name = "review-cells")
    {
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync();
        var dataset = new Dataset { Name = name, CreatedAt = DateTimeOffset.UtcNow, GroupedAt = DateTimeOffset.UtcNow, GroupCount = 5 };
        db.Datasets.Add(dataset);
        await db.SaveChangesAsync();

        // (group, label, images in the dataset, evaluated, how many evaluated are called which class)
        (int Group, int Label, int Images, int Evaluated, int Wrong, int CalledWrong)[] plan =
        [
            (1, 0, 6, 4, 4, 3), (2, 0, 3, 3, 0, 0), (3, 3, 5, 5, 1, 0), (4, 1, 3, 3, 2, 2), (5, 2, 3, 3, 0, 0),
        ];
        var rows = new List<(DatasetImage Image, int Label, bool Evaluated, int Predicted)>();
        int n = 0;
        foreach (var (group, label, images, evaluatedCount, wrong, calledWrong) in plan)
        {
            for (int i = 0; i < images; i++)
            {
                string sha = $"{name}-{++n}".GetHashCode().ToString("x8").PadLeft(64, '0')[..56] + n.ToString("x8");
                db.StoredImages.Add(new StoredImage { Sha256 = sha, Format = "png", Width = 32, Height = 24, Bytes = 100 });
                var image = new DatasetImage { DatasetId = dataset.Id, ClassName = Labels[label], RelativePath = $"{Labels[label]}/g{group}_{i}.png", Sha256 = sha, SourceGroup = group };
                db.DatasetImages.Add(image);
                rows.Add((image, label, i < evaluatedCount, i < wrong ? calledWrong : label));
            }
        }
        await db.SaveChangesAsync();

        var split = new Split { DatasetId = dataset.Id, Name = $"{name}-split", Strategy = WbcPortal.Engine.Datasets.Splitting.SplitStrategy.Grouped, Ratios = "0.6,0.2,0.2", CreatedAt = DateTimeOffset.UtcNow, ReportJson = "{}" };
        db.Splits.Add(split);
        await db.SaveChangesAsync();
        foreach (var r in rows) db.SplitMembers.Add(new SplitMember { SplitId = split.Id, DatasetImageId = r.Image.Id, Part = r.Evaluated ? WbcPortal.Engine.Datasets.Splitting.SplitPart.Test : WbcPortal.Engine.Datasets.Splitting.SplitPart.Train });

        var run = new Run { Name = $"{name}-run", SplitId = split.Id, ConfigJson = "{}", Status = RunStatus.Succeeded, CreatedAt = DateTimeOffset.UtcNow, CheckpointDirectory = "runs/x" };
        db.Runs.Add(run);
        await db.SaveChangesAsync();

        var evaluated = rows.Where(r => r.Evaluated).ToList();
        var predictions = evaluated.Select(r => new ImagePrediction(r.Image.Id.ToString(), r.Label, Logits(r.Predicted))).ToList();
        var report = EvaluationReport.Build(Labels, predictions, 1, evaluated.ToDictionary(r => r.Image.Id.ToString(), r => r.Image.SourceGroup));
        var evaluation = new RunEvaluation
        {
            RunId = run.Id, Stage = TrainingStage.Model, Part = WbcPortal.Engine.Datasets.Splitting.SplitPart.Test, Source = WbcPortal.Engine.Evaluation.EvaluationSource.Split(split.Name, WbcPortal.Engine.Datasets.Splitting.SplitPart.Test), Accuracy = report.Accuracy, MacroF1 = report.MacroF1,
            MetricsJson = "{}", ReportJson = JsonSerializer.Serialize(report, EvaluationService.Json), CreatedAt = DateTimeOffset.UtcNow,
        };
        foreach (var (r, p) in evaluated.Zip(predictions))
            evaluation.Predictions.Add(new RunPrediction { DatasetImageId = r.Image.Id, Sha256 = r.Image.Sha256, Label = r.Label, Predicted = p.Predicted, Confidence = 0.9, LogitsJson = JsonSerializer.Serialize(p.Logits) });
        db.RunEvaluations.Add(evaluation);
        await db.SaveChangesAsync();

        var groups = rows.GroupBy(r => r.Image.SourceGroup!.Value).ToDictionary(g => g.Key, g => g.Select(r => r.Image.Id).ToArray());
        return new ReviewSeed(dataset.Id, run.Id, evaluation.Id, groups);
    }

    private static float[] Logits(int predicted)
    {
        var l = new float[Labels.Length];
        l[predicted] = 4;
        return l;
    }
}
