using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Cli;
using WbcPortal.Engine.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// <c>storage --delete-run</c> by the rules the pages follow: a fold only with <c>--leave-cv-incomplete</c>, a run whose model
/// is active never, and the result in words; the cross-validation's JSON then says it is incomplete and its mean not final.
/// </summary>
[Trait("Category", "Torch")]
public sealed class RunDeletionCliTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-run-delete-cli");

    public void Dispose() => data.Dispose();

    private async Task<(int Code, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--data-dir", data.Path], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task A_fold_is_deleted_only_with_leave_cv_incomplete_an_active_model_never_and_the_cross_validation_then_reads_incomplete()
    {
        await using (var services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider())
        {
            await services.MigrateAsync();
            await RunSeeds.AddCrossValidationAsync(services, "ux-cv2", [0.3, 0.35, 0.4]);
            await RunSeeds.AddRunAsync(services, "serving-run", TrainingPresets.Get("default"), 0.8, split: "serving-split");
            await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(TestContext.Current.CancellationToken);
            db.Models.Add(new RegisteredModel { Name = "serving-run", OnnxPath = "runs/serving-run/model.onnx", Labels = "A,B", IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        var (code, stdout, stderr) = await Run("storage", "--json");
        Assert.True(code == 0, stderr);
        var runs = JsonDocument.Parse(stdout).RootElement.GetProperty("runs").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
        Assert.Equal("ux-cv2", runs["ux-cv2-fold1"].GetProperty("crossValidation").GetString());
        Assert.Equal(1, runs["ux-cv2-fold1"].GetProperty("fold").GetInt32());
        Assert.Equal("serving-run", runs["serving-run"].GetProperty("activeModel").GetString());
        Assert.Contains("active model", runs["serving-run"].GetProperty("notDeletable").GetString());

        // Refused in one line, naming the cross-validation and the flag; nothing deleted, the active model's run neither.
        (code, stdout, stderr) = await Run("storage", "--delete-run", "ux-cv2-fold1", "--delete-run", "ux-cv2-fold2");
        Assert.Equal(1, code);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.Equal("storage: Run 'ux-cv2-fold1' is fold 1 of 3 of cross-validation 'ux-cv2': deleting it leaves 'ux-cv2' incomplete (fold 1 deleted), " +
                     "its mean over the other folds no longer final. Add --leave-cv-incomplete to delete it; nothing was deleted.", line);
        (code, _, stderr) = await Run("storage", "--delete-run", "serving-run");
        Assert.Equal(1, code);
        Assert.Contains("the active model the portal classifies with: it cannot be deleted (make another model active first, on the Models page)", stderr);
        (code, _, stderr) = await Run("storage", "--leave-cv-incomplete");
        Assert.Equal(2, code);
        Assert.Contains("--leave-cv-incomplete goes with --delete-run", stderr);

        (code, stdout, stderr) = await Run("storage", "--delete-run", "ux-cv2-fold1", "--leave-cv-incomplete", "--json");
        Assert.True(code == 0, stderr);
        var deleted = JsonDocument.Parse(stdout).RootElement.GetProperty("deleted");
        Assert.Equal("1 run, its model and its 2 files", deleted.GetProperty("summary").GetString());
        Assert.Equal(["run ux-cv2-fold1", "model ux-cv2-fold1"], deleted.GetProperty("removed").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(4096 + 8192, deleted.GetProperty("freedBytes").GetInt64());
        Assert.Equal("Cross-validation 'ux-cv2' is incomplete (fold 1 deleted) now: its mean over the other folds is not final.",
            Assert.Single(deleted.GetProperty("updated").EnumerateArray()).GetString());
        (code, stdout, stderr) = await Run("storage", "--delete-run", "ux-cv2-fold2", "--leave-cv-incomplete");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Deleted 1 run, its model and its 2 files; 12", stdout);
        Assert.Contains("  ! Cross-validation 'ux-cv2' is incomplete (folds 1 and 2 deleted) now", stdout);

        // The cross-validation's own JSON: the old keys as they were, and what was deleted; exit 1 (it can never be whole again).
        (code, stdout, stderr) = await Run("resume", "ux-cv2", "--json");
        Assert.Equal(1, code);
        Assert.Contains("cross-validation 'ux-cv2' is incomplete (folds 1 and 2 deleted): it cannot be completed; its mean is not final", stderr);
        var cv = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("Succeeded", cv.GetProperty("status").GetString());
        Assert.Equal("incomplete (folds 1 and 2 deleted)", cv.GetProperty("statusText").GetString());
        Assert.True(cv.GetProperty("incomplete").GetBoolean());
        Assert.False(cv.GetProperty("meanFinal").GetBoolean());
        Assert.Equal([1, 2], cv.GetProperty("deletedFolds").EnumerateArray().Select(f => f.GetProperty("fold").GetInt32()));
        Assert.Equal("ux-cv2-fold1", cv.GetProperty("deletedFolds")[0].GetProperty("run").GetString());
        Assert.StartsWith("operator (CLI", cv.GetProperty("deletedFolds")[0].GetProperty("by").GetString());
        Assert.Single(cv.GetProperty("folds").EnumerateArray());
        Assert.Equal(3, cv.GetProperty("k").GetInt32());
    }
}
