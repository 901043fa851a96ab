using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Storage;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>A fold of a cross-validation was to be deleted without the person confirming what that does to the cross-validation.</summary>
public sealed class FoldDeletionNotConfirmedException(string message) : InvalidOperationException(message);

/// <summary>
/// Deletes a run: its rows (epochs, evaluations, predictions, the models exported from it) and then its folder. What may
/// not go is refused before anything changes (<see cref="RunDependencies.Refusal"/>: a queued or running run, one whose
/// model is the active model); a cross-validation's fold goes only when the caller confirms it, and then its
/// cross-validation records the deleted fold (it reads "incomplete (fold k deleted)" everywhere, its mean not final).
/// The Storage page, the runs list, the run page and <c>storage --delete-run</c> all delete through here.
/// </summary>
public sealed class RunDeletion(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage, RunDependents dependents, RunChanges changes,
    TimeProvider clock, AccessControl access, AuditLog audit, DataFolderSpace space)
{
    /// <param name="leaveCrossValidationIncomplete">
    /// The person confirmed that deleting a cross-validation's fold leaves that cross-validation incomplete; without it a
    /// fold is refused with <see cref="FoldDeletionNotConfirmedException"/>, naming the cross-validation.
    /// </param>
    [Demands(PortalAction.Delete)]
    public async Task<StorageDeletion> DeleteAsync(string idOrName, bool leaveCrossValidationIncomplete = false, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.Delete);
        if (storage.ReadOnly) throw new InvalidOperationException(storage.ReadOnlyRefusal("runs are deleted on the portal that holds the data folder, or with WbcPortal storage --delete-run when no process holds it"));
        // On a full disk the folder's reserve goes first (the database needs room for its journal even to delete), and it is
        // made up again after, whatever happened, where space allows.
        space.ReleaseReserveIfLow();
        try
        {
            return await DeleteCoreAsync(idOrName, leaveCrossValidationIncomplete, actor, cancellationToken);
        }
        finally
        {
            space.EnsureReserve();
        }
    }

    private async Task<StorageDeletion> DeleteCoreAsync(string idOrName, bool leaveCrossValidationIncomplete, Actor actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        RunDependencies before;
        Run run;
        List<RegisteredModel> models;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            // Read and checked inside the write transaction: a model made active or a run resumed meanwhile is seen.
            run = await RunDependents.FindAsync(db, idOrName ?? "", cancellationToken) ?? throw new ArgumentException($"No run '{idOrName}'.");
            before = await dependents.OfAsync(db, run, cancellationToken);
            if (before.Refusal is { } refusal) throw new InvalidOperationException(refusal);
            if (before.ConfirmationNeeded is { } warning && !leaveCrossValidationIncomplete)
            {
                throw new FoldDeletionNotConfirmedException($"{warning} Confirm it to delete the run (storage --delete-run {run.Name} --leave-cv-incomplete, or the delete dialog).");
            }
            if (before.CrossValidation is { } fold && await db.CrossValidations.SingleOrDefaultAsync(c => c.Id == fold.Id, cancellationToken) is { } cv)
            {
                var recorded = CrossValidationService.ReadDeletedFolds(cv.DeletedFoldsJson).Where(f => f.Fold != fold.Fold).ToList();
                recorded.Add(new DeletedFold(fold.Fold, run.Name, clock.GetUtcNow(), actor.Name));
                cv.DeletedFoldsJson = CrossValidationService.WriteDeletedFolds(recorded);
            }
            models = await RunDependents.ModelsOf(db, run).ToListAsync(cancellationToken);
            db.Models.RemoveRange(models);
            db.Runs.Remove(run);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        // The rows are gone: nothing references the folder now.
        string folder = dependents.RunFolder(run.Id);
        long bytes = Datasets.UploadStaging.DirectorySize(folder);
        int files = Directory.Exists(folder) ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Length : 0;
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);

        var updated = new List<string>();
        if (before.CrossValidation is { } of)
        {
            var deleted = of.AlreadyDeleted.Append(of.Fold).Distinct().ToList();
            updated.Add($"Cross-validation '{of.Name}' is {CrossValidationLifecycle.Describe(RunStatus.Succeeded, deleted)} now: its mean over the other folds is not final.");
        }
        var removed = new List<string> { $"run {run.Name}" };
        removed.AddRange(models.Select(m => $"model {m.Name}"));
        var deletion = new StorageDeletion(removed, bytes) { Runs = 1, Models = models.Count, RunFiles = files, Updated = updated };
        await audit.RecordAsync(AuditAction.RunDeleted, $"run {run.Id} '{run.Name}'",
            string.Join(" ", new[] { $"deleted {deletion.Summary}." }.Concat(before.Consequences)), cancellationToken: CancellationToken.None);
        changes.Notify(run.Id);
        return deletion;
    }
}
