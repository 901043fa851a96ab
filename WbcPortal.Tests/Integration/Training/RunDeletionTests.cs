using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Review;
using WbcPortal.Services.Storage;
using WbcPortal.Services.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Training;

/// <summary>
/// Nothing that depends on a run vanishes silently when it is deleted (issue 25): a fold goes only when its cross-validation is
/// named and confirmed, and that cross-validation then reads incomplete with its mean not final; a run whose model is active
/// is refused with what to do; the result counts what went in words. Rename and notes with their rules. Real services, SQLite.
/// </summary>
[Trait("Category", "Torch")]
public sealed class RunDeletionTests : IAsyncDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly Actor Ana = new(ActorKind.User, "ana", PortalRole.Admin, "ana");

    private readonly TempDirectory data = new("wbc-run-deletion");
    private ServiceProvider? provider;

    private async Task<ServiceProvider> ServicesAsync()
    {
        provider = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await provider.MigrateAsync();
        return provider;
    }

    private static async Task<IReadOnlyList<AuditEntry>> AuditAsync(IServiceProvider services, AuditAction action) =>
        (await services.GetRequiredService<AuditLog>().QueryAsync(new AuditFilter(Action: action), Ct)).Entries;

    [Fact]
    public async Task Deleting_a_fold_needs_its_cross_validation_confirmed_then_the_cross_validation_reads_incomplete_and_its_mean_not_final()
    {
        var services = await ServicesAsync();
        var (cvId, runIds) = await RunSeeds.AddCrossValidationAsync(services, "ux-cv2", [0.3, 0.35, 0.4]);
        var (otherId, _) = await RunSeeds.AddCrossValidationAsync(services, "ux-cv3", [0.3, 0.35, 0.4]);
        var cvs = services.GetRequiredService<CrossValidationService>();
        var before = await cvs.GetAsync(cvId, Ct);
        Assert.Equal("Succeeded", before.StatusText);
        Assert.True(before.MeanIsFinal);
        Assert.Null(CrossValidationComparison.Compare(before, await cvs.GetAsync(otherId, Ct)).NotJudgedWhy);

        var dependencies = await services.GetRequiredService<RunDependents>().OfAsync("ux-cv2-fold1", Ct);
        var fold = dependencies.CrossValidation!;
        Assert.Equal((cvId, "ux-cv2", 1, 3), (fold.Id, fold.Name, fold.Fold, fold.Folds));
        Assert.Empty(fold.AlreadyDeleted);
        Assert.Equal(["ux-cv2-fold1"], dependencies.Models.Select(m => m.Name));
        Assert.Equal(2, dependencies.Files);
        Assert.Null(dependencies.Refusal);
        Assert.Equal("Run 'ux-cv2-fold1' is fold 1 of 3 of cross-validation 'ux-cv2': deleting it leaves 'ux-cv2' incomplete (fold 1 deleted), its mean over the other folds no longer final.",
            dependencies.ConfirmationNeeded);
        Assert.Contains("Model 'ux-cv2-fold1', exported from it, is deleted with it.", dependencies.Consequences);

        var deletion = services.GetRequiredService<RunDeletion>();
        using var asAna = services.GetRequiredService<ActorContext>().Use(Ana);
        // Not confirmed: refused, naming the cross-validation, and nothing changes.
        var refused = await Assert.ThrowsAsync<FoldDeletionNotConfirmedException>(() => deletion.DeleteAsync("ux-cv2-fold1", cancellationToken: Ct));
        Assert.Contains("cross-validation 'ux-cv2'", refused.Message);
        Assert.Contains("--leave-cv-incomplete", refused.Message);
        Assert.Equal(3, (await cvs.GetAsync(cvId, Ct)).FoldRuns.Count);
        Assert.True(Directory.Exists(Path.Combine(data.Path, "runs", runIds[0].ToString())));

        var done = await deletion.DeleteAsync("ux-cv2-fold1", leaveCrossValidationIncomplete: true, Ct);
        Assert.Equal("1 run, its model and its 2 files", done.Summary);
        Assert.Equal(["run ux-cv2-fold1", "model ux-cv2-fold1"], done.Removed);
        Assert.Equal(4096 + 8192, done.FreedBytes);
        Assert.Equal(["Cross-validation 'ux-cv2' is incomplete (fold 1 deleted) now: its mean over the other folds is not final."], done.Updated);
        Assert.StartsWith("Deleted 1 run, its model and its 2 files; 12", done.Sentence);
        Assert.False(Directory.Exists(Path.Combine(data.Path, "runs", runIds[0].ToString())));

        // The cross-validation says so wherever it is read: its page, the runs list, comparisons.
        var after = await cvs.GetAsync(cvId, Ct);
        Assert.Equal(RunStatus.Succeeded, after.Status); // the remaining folds' own status, unchanged
        Assert.Equal("incomplete (fold 1 deleted)", after.StatusText);
        Assert.True(after.Incomplete);
        Assert.False(after.MeanIsFinal);
        var gone = Assert.Single(after.DeletedFolds);
        Assert.Equal((1, "ux-cv2-fold1", "ana"), (gone.Fold, gone.Run, gone.By));
        Assert.Equal(2, after.FoldRuns.Count);
        var listed = (await cvs.ListAsync(Ct)).Single(c => c.Id == cvId);
        Assert.Equal("incomplete (fold 1 deleted)", listed.StatusText);
        Assert.False(listed.MeanIsFinal);
        Assert.True((await cvs.ListAsync(Ct)).Single(c => c.Id == otherId).MeanIsFinal);
        Assert.Equal("ux-cv2 is incomplete (fold 1 deleted): its mean is not final.", CrossValidationComparison.Compare(await cvs.GetAsync(otherId, Ct), after).NotJudgedWhy);

        // A second fold: the record keeps both, and the dependents of the third know what is gone.
        Assert.Equal([1], (await services.GetRequiredService<RunDependents>().OfAsync("ux-cv2-fold3", Ct)).CrossValidation!.AlreadyDeleted);
        await deletion.DeleteAsync("ux-cv2-fold2", leaveCrossValidationIncomplete: true, Ct);
        Assert.Equal("incomplete (folds 1 and 2 deleted)", (await cvs.GetAsync(cvId, Ct)).StatusText);

        var audit = await AuditAsync(services, AuditAction.RunDeleted);
        Assert.Equal(2, audit.Count);
        Assert.All(audit, a => Assert.Equal("ana", a.Actor));
        Assert.Contains(audit, a => a.Target == $"run {runIds[0]} 'ux-cv2-fold1'" && a.Detail!.StartsWith("deleted 1 run, its model and its 2 files.") && a.Detail.Contains("cross-validation 'ux-cv2'"));
    }

    [Fact]
    public async Task A_run_whose_model_is_active_is_refused_naming_the_model_and_where_to_change_it_and_so_is_its_dataset()
    {
        var services = await ServicesAsync();
        int runId = await RunSeeds.AddRunAsync(services, "serving-run", TrainingPresets.Get("default"), 0.8, split: "serving-split");
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            db.Models.Add(new RegisteredModel { Name = "serving-run", OnnxPath = "runs/serving-run/model.onnx", Labels = "A,B", IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        const string Expected = "Run 'serving-run' exported model 'serving-run', the active model the portal classifies with: it cannot be deleted (make another model active first, on the Models page).";
        Assert.Equal(Expected, (await services.GetRequiredService<RunDependents>().OfAsync("serving-run", Ct)).Refusal);
        var listed = Assert.Single((await services.GetRequiredService<DataFolderInventory>().ListAsync(Ct)).Runs);
        Assert.Equal(Expected, listed.NotDeletable);
        Assert.Equal("serving-run", listed.ActiveModel);

        var deletion = services.GetRequiredService<RunDeletion>();
        Assert.Equal(Expected, (await Assert.ThrowsAsync<InvalidOperationException>(() => deletion.DeleteAsync("serving-run", cancellationToken: Ct))).Message);
        var dataset = await Assert.ThrowsAsync<InvalidOperationException>(() => services.GetRequiredService<DataFolderInventory>().DeleteDatasetAsync("serving-split-cells", withRuns: true, Ct));
        Assert.Contains("active model", dataset.Message);
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            Assert.True(await db.Runs.AnyAsync(r => r.Id == runId, Ct));
            Assert.True(await db.Datasets.AnyAsync(d => d.Name == "serving-split-cells", Ct));
            // Another model made active: the run may go, with its (no longer active) model.
            await db.Models.ExecuteUpdateAsync(s => s.SetProperty(m => m.IsActive, false), Ct);
        }
        var done = await deletion.DeleteAsync(runId.ToString(), cancellationToken: Ct);
        Assert.Equal("1 run and its model", done.Summary);
        Assert.Empty(done.Updated);
    }

    [Fact]
    public async Task The_dependents_name_the_ensemble_the_label_issue_search_the_review_decisions_and_the_version_made_with_them()
    {
        var services = await ServicesAsync();
        var (cvId, runIds) = await RunSeeds.AddCrossValidationAsync(services, "deps-cv", [0.6, 0.7]);
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            int datasetId = await db.CrossValidations.Where(c => c.Id == cvId).Select(c => c.SourceSplit!.DatasetId).SingleAsync(Ct);
            db.Models.Add(new RegisteredModel { Name = "deps-cv-ensemble", OnnxPath = "models/ensembles/deps-cv.onnx", Labels = "A,B", IsActive = true, CrossValidationId = cvId, CreatedAt = DateTimeOffset.UtcNow });
            db.LabelIssueRuns.Add(new LabelIssueRun { DatasetId = datasetId, Mode = LabelIssueService.CrossValidationMode, CrossValidationId = cvId, Folds = 2, Seed = 42, ResultJson = "{}", CreatedAt = DateTimeOffset.UtcNow });
            var decision = new ReviewDecision
            {
                DatasetId = datasetId, ImageIdsJson = "[1]", Images = 1, FromClass = "A", ToClass = "B", Reviewer = "ana", CreatedAt = DateTimeOffset.UtcNow, RunId = runIds[0],
            };
            db.ReviewDecisions.Add(decision);
            await db.SaveChangesAsync(Ct);
            var change = new Services.Datasets.DatasetVersionChangeRow(null, 1, "A/a.png", new string('0', 64), "A", "B", decision.Id, "ana", DateTimeOffset.UtcNow, null);
            db.Datasets.Add(new Dataset { Name = "cells-v2", ParentDatasetId = datasetId, Version = 2, CreatedAt = DateTimeOffset.UtcNow, ChangesJson = System.Text.Json.JsonSerializer.Serialize(new[] { change }) });
            await db.SaveChangesAsync(Ct);
        }

        var dependencies = await services.GetRequiredService<RunDependents>().OfAsync("deps-cv-fold1", Ct);
        Assert.Null(dependencies.Refusal); // the ensemble's file holds its own copy of the fold model: deleting the fold does not take it away
        Assert.Equal(["deps-cv-ensemble"], dependencies.Ensembles.Select(m => m.Name));
        Assert.Equal(1, dependencies.ReviewDecisions);
        Assert.Equal(["cells-v2"], dependencies.DatasetVersions);
        Assert.Single(dependencies.LabelIssueSearches);
        Assert.Contains(dependencies.Consequences, c => c.StartsWith("Model 'deps-cv-ensemble' (the active model) averages the fold models of 'deps-cv': it stays"));
        Assert.Contains("1 review decision taken on its evaluations stays in force, as do the dataset version made with them ('cells-v2'); they no longer link to the run.", dependencies.Consequences);
        Assert.Contains(dependencies.Consequences, c => c.StartsWith("1 label-issue search (#") && c.Contains("a new search of 'deps-cv' is refused"));

        await services.GetRequiredService<RunDeletion>().DeleteAsync("deps-cv-fold1", leaveCrossValidationIncomplete: true, Ct);
        var search = await Assert.ThrowsAsync<ArgumentException>(() => services.GetRequiredService<LabelIssueService>().FromCrossValidationAsync("deps-cv", Ct));
        Assert.Contains("incomplete (fold 1 deleted)", search.Message);
    }

    [Fact]
    public async Task A_run_is_renamed_to_a_valid_unique_name_and_annotated_and_both_are_audited()
    {
        var services = await ServicesAsync();
        int runId = await RunSeeds.AddRunAsync(services, "first-try", TrainingPresets.Get("default"), 0.8);
        await RunSeeds.AddRunAsync(services, "other-run", TrainingPresets.Get("default"), 0.7);
        await RunSeeds.AddCrossValidationAsync(services, "the-cv", [0.6, 0.7]);
        var edits = services.GetRequiredService<RunEdits>();
        using var asAna = services.GetRequiredService<ActorContext>().Use(Ana);

        Assert.Equal("A run needs a name.", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, "  ", Ct))).Message);
        Assert.Contains("digits alone", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, "42", Ct))).Message);
        Assert.Contains("control characters", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, "a\nb", Ct))).Message);
        Assert.Contains("at most 200", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, new string('x', 201), Ct))).Message);
        Assert.Equal("A run named 'other-run' exists already.", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, "other-run", Ct))).Message);
        Assert.Contains("differs only by case", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, "Other-Run", Ct))).Message);
        Assert.Contains("Cross-validation 'the-cv' has that name", (await Assert.ThrowsAsync<ArgumentException>(() => edits.RenameAsync(runId, "the-cv", Ct))).Message);

        Assert.Equal("baseline s42", await edits.RenameAsync(runId, "  baseline s42 ", Ct));
        await edits.SetNotesAsync(runId, "  Crop 112, seed 42.\r\nMonocytes still weak.  ", Ct);
        var item = (await services.GetRequiredService<RunQueries>().ListAsync(Ct)).Single(r => r.Id == runId);
        Assert.Equal("baseline s42", item.Name);
        Assert.Equal("Crop 112, seed 42.\nMonocytes still weak.", item.Notes);
        Assert.Equal(runId, await services.GetRequiredService<TrainingRunService>().ResolveAsync("baseline s42", Ct));
        await edits.SetNotesAsync(runId, " ", Ct);
        Assert.Null((await services.GetRequiredService<RunQueries>().GetAsync(runId, Ct))!.Run.Notes);
        await Assert.ThrowsAsync<ArgumentException>(() => edits.SetNotesAsync(runId, new string('n', RunEdits.MaxNotesLength + 1), Ct));

        var renamed = Assert.Single(await AuditAsync(services, AuditAction.RunRenamed));
        Assert.Equal(($"run {runId} 'first-try'", "renamed 'baseline s42'", "ana"), (renamed.Target, renamed.Detail, renamed.Actor));
        Assert.Equal(["notes cleared", "notes: Crop 112, seed 42. Monocytes still weak."], (await AuditAsync(services, AuditAction.RunNotesChanged)).Select(a => a.Detail));

        using (services.GetRequiredService<ActorContext>().Use(new Actor(ActorKind.User, "vic", PortalRole.Reviewer, "vic")))
        {
            await Assert.ThrowsAsync<AccessDeniedException>(() => edits.RenameAsync(runId, "mine", Ct));
            await Assert.ThrowsAsync<AccessDeniedException>(() => services.GetRequiredService<RunDeletion>().DeleteAsync("baseline s42", cancellationToken: Ct));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (provider is not null) await provider.DisposeAsync();
        data.Dispose();
    }
}
