using WbcPortal.Engine.Training;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Cli;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// A real portal with something on every page: an older small dataset, then the dataset the pages show with its folders
/// split, a tiny trained run (its model
/// active, its test part reviewable), two cross-validations whose fold runs are newer than that run (copies of its
/// evaluations, so a fold's test part is reviewable too), and a classified batch with long file names.
/// </summary>
public sealed class PortalPagesFixture : IAsyncLifetime
{
    public const string OlderDatasetName = "archive-cells";
    public const string DatasetName = "layout-cells";
    public const string RunName = "layout-run";

    public BrowserFixture Browser { get; } = new();
    public PortalProcess Portal => Browser.Portal;

    public int DatasetId { get; private set; }
    public int SplitId { get; private set; }
    /// <summary>The trained run: the newest run that is not a cross-validation fold.</summary>
    public int RunId { get; private set; }
    public int TestEvaluationId { get; private set; }
    public IReadOnlyList<int> CrossValidationIds { get; private set; } = [];
    public IReadOnlyList<int> FoldRunIds { get; private set; } = [];
    /// <summary>The classify page's address of the classified batch (with its <c>batch=</c>).</summary>
    public string ClassifyAddress { get; private set; } = "classify";

    public async ValueTask InitializeAsync()
    {
        await Browser.InitializeAsync();
        if (Browser.Browser is null) return;
        var ct = TestContext.Current.CancellationToken;
        using var source = new TempDirectory("wbc-pages-src");
        int seed = 1_300;
        foreach (var part in new[] { "TRAIN", "TRAIN", "TRAIN", "VAL", "TEST", "TEST" })
        {
            foreach (var (cls, shifted) in new[] { ("EOSINOPHIL", true), ("NEUTROPHIL", false) })
            {
                using var original = LeakCheckerTests.Smear(seed: seed++, width: 160, height: 120);
                if (shifted) original.Mutate(c => c.Hue(150));
                var dir = Directory.CreateDirectory(Path.Combine(source.Path, part, cls)).FullName;
                await original.SaveAsPngAsync(Path.Combine(dir, $"o{seed}.png"), ct);
            }
        }
        var quiet = new StringWriter();
        var stderr = new StringWriter();
        using var older = new TempDirectory("wbc-pages-older");
        ImportFixtures.ClassFolders(older.Path, ["EOSINOPHIL", "NEUTROPHIL"], 2, seed: 13);
        await Browser.WithPortalStoppedAsync(async data =>
        {
            Assert.Equal(0, await CliApp.RunAsync(["import", older.Path, "--name", OlderDatasetName, "--data-dir", data], quiet, quiet));
            Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", DatasetName, "--data-dir", data], quiet, quiet));
            Assert.True(await CliApp.RunAsync(["split", DatasetName, "--strategy", "folders", "--name", "layout-folders", "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
            var config = Path.Combine(source.Path, "tiny.json");
            await File.WriteAllTextAsync(config, """
                { "inputHeight": 48, "inputWidth": 64, "round1": { "epochs": 2, "learningRate": 0.01 },
                  "round2": { "epochs": 1, "learningRate": 0.00001, "unfrozenStages": ["layer4"] }, "batchSize": 8, "seed": 5, "device": "cpu" }
                """, ct);
            Assert.True(await CliApp.RunAsync(["train", "--split", "layout-folders", "--config", config, "--name", RunName, "--data-dir", data], quiet, stderr) == 0, stderr.ToString());
        });

        await using (var services = new ServiceCollection().AddPortalCoreForTests(Portal.DataDirectory).BuildServiceProvider())
        {
            await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(ct);
            var run = await db.Runs.AsNoTracking().Include(r => r.Epochs).Include(r => r.Evaluations).ThenInclude(e => e.Predictions).SingleAsync(r => r.Name == RunName, ct);
            RunId = run.Id;
            SplitId = run.SplitId;
            DatasetId = await db.Splits.Where(s => s.Id == run.SplitId).Select(s => s.DatasetId).SingleAsync(ct);
            TestEvaluationId = run.Evaluations.Single(e => e.Stage == TrainingStage.Model && e.Part == WbcPortal.Engine.Datasets.Splitting.SplitPart.Test).Id;
            var cvs = new List<CrossValidation>();
            var folds = new List<Run>();
            foreach (var name in new[] { "layout-cv-a", "layout-cv-b" })
            {
                var cv = new CrossValidation { Name = name, SourceSplitId = run.SplitId, Folds = 2, Seed = 1, ConfigJson = run.ConfigJson, CreatedAt = DateTimeOffset.UtcNow };
                for (int fold = 1; fold <= 2; fold++)
                {
                    var copy = CopyOf(run, $"{name}-fold{fold}");
                    copy.Fold = fold;
                    cv.Runs.Add(copy);
                    folds.Add(copy);
                }
                cvs.Add(cv);
                db.CrossValidations.Add(cv);
            }
            await db.SaveChangesAsync(ct);
            CrossValidationIds = cvs.Select(c => c.Id).ToList();
            FoldRunIds = folds.Select(r => r.Id).ToList();
        }

        // New cells under long names, classified on the page.
        var uploads = Directory.CreateDirectory(Path.Combine(source.Path, "new")).FullName;
        for (int i = 0; i < 3; i++)
        {
            using var cell = LeakCheckerTests.Smear(seed: 1_500 + i, width: 160, height: 120);
            await cell.SaveAsPngAsync(Path.Combine(uploads, $"ward-7-slide-2024-11-30-patient-000123-cell-{i:0000}.png"), ct);
        }
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1366, Height = 900 } });
        var page = await context.NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(page, new Uri(Portal.BaseAddress, "classify"));
        await page.WaitForFunctionAsync("() => document.querySelector('input[type=file]')?._blazorInputFileNextFileId !== undefined");
        await page.Locator("input[type=file]").SetInputFilesAsync(Directory.GetFiles(uploads).Order().ToArray());
        await Assertions.Expect(page.Locator("[data-testid=classify-row]")).ToHaveCountAsync(3, new() { Timeout = 120_000 });
        ClassifyAddress = new Uri(page.Url).PathAndQuery.TrimStart('/');
        await context.CloseAsync();
    }

    /// <summary>A copy of <paramref name="run"/> (epochs, evaluations, predictions) under another name: a fold run without training one.</summary>
    private static Run CopyOf(Run run, string name) => new()
    {
        Name = name,
        SplitId = run.SplitId,
        ConfigJson = run.ConfigJson,
        Status = run.Status,
        Device = run.Device,
        Seed = run.Seed,
        CreatedAt = DateTimeOffset.UtcNow,
        StartedAt = run.StartedAt,
        FinishedAt = run.FinishedAt,
        Seconds = run.Seconds,
        CheckpointDirectory = run.CheckpointDirectory,
        ModelPath = run.ModelPath,
        Temperature = run.Temperature,
        Epochs = run.Epochs.Select(e => new RunEpoch
        {
            Round = e.Round, Epoch = e.Epoch, TrainLoss = e.TrainLoss, TrainAccuracy = e.TrainAccuracy, ValLoss = e.ValLoss, ValAccuracy = e.ValAccuracy,
            Seconds = e.Seconds, ImagesPerSecond = e.ImagesPerSecond, LearningRate = e.LearningRate,
        }).ToList(),
        Evaluations = run.Evaluations.Select(e => new RunEvaluation
        {
            Stage = e.Stage, Part = e.Part, Accuracy = e.Accuracy, MacroF1 = e.MacroF1, MetricsJson = e.MetricsJson, Source = e.Source, Ece = e.Ece,
            EceUncalibrated = e.EceUncalibrated, ReportJson = e.ReportJson, CreatedAt = e.CreatedAt,
            Predictions = e.Predictions.Select(p => new RunPrediction
            {
                DatasetImageId = p.DatasetImageId, Sha256 = p.Sha256, File = p.File, Label = p.Label, Predicted = p.Predicted, Confidence = p.Confidence, LogitsJson = p.LogitsJson,
            }).ToList(),
        }).ToList(),
    };

    public ValueTask DisposeAsync() => Browser.DisposeAsync();
}
