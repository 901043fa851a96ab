using System.CommandLine;
using WbcPortal.Options;
using WbcPortal.Services.Storage;
using WbcPortal.Services.Training;
using WbcPortal.Storage;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>storage [--delete-staging] [--delete-unreferenced] [--delete-run RUN]... [--leave-cv-incomplete] [--delete-dataset NAME [--with-runs]]</c>:
/// what the data folder holds, with sizes; deletes what is asked, never a file a row references, by the rules the pages
/// follow (<see cref="RunDeletion"/>). Listing alone is read-only (it works beside a running portal); any deletion takes the data folder's lock.
/// </summary>
public sealed class StorageVerb : ICliVerb
{
    private readonly Option<bool> deleteStaging = new("--delete-staging") { Description = "Delete staged uploads (data/uploads) no import uses" };
    private readonly Option<bool> deleteUnreferenced = new("--delete-unreferenced") { Description = "Delete stored images, thumbnails, temp files and run folders no row references" };
    private readonly Option<string[]> deleteRun = new("--delete-run") { Description = "Delete a run (id or name): its rows, registered model and folder; repeatable", AllowMultipleArgumentsPerToken = false };
    private readonly Option<string?> deleteDataset = new("--delete-dataset") { Description = "Delete a dataset (id or name) with its splits and the files no other dataset uses" };
    private readonly Option<bool> withRuns = new("--with-runs") { Description = "With --delete-dataset: also delete the runs trained on its splits (refused without it)" };
    private readonly Option<bool> leaveCvIncomplete = new("--leave-cv-incomplete")
    {
        Description = "With --delete-run: a run that is a cross-validation's fold is deleted too, and its cross-validation reads incomplete (refused without it)",
    };

    public string Name => "storage";

    public bool WritesDataFor(ParseResult parse) =>
        parse.GetValue(deleteStaging) || parse.GetValue(deleteUnreferenced) || (parse.GetValue(deleteRun)?.Length ?? 0) > 0 || parse.GetValue(deleteDataset) is not null;

    public bool FreesSpaceFor(ParseResult parse) => WritesDataFor(parse);

    public Command CreateCommand() => new(Name, "Show what the data folder holds (datasets, runs, models, staged uploads, unreferenced files) with sizes; delete what you choose")
    {
        deleteStaging, deleteUnreferenced, deleteRun, deleteDataset, withRuns, leaveCvIncomplete,
    };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var inventory = services.GetRequiredService<DataFolderInventory>();
        var storage = services.GetRequiredService<StorageOptions>();
        var runDeletion = services.GetRequiredService<RunDeletion>();
        var dependents = services.GetRequiredService<RunDependents>();
        if (parse.GetValue(withRuns) && parse.GetValue(deleteDataset) is null) throw new CliException("--with-runs goes with --delete-dataset", 2);
        var runs = parse.GetValue(deleteRun) ?? [];
        if (parse.GetValue(leaveCvIncomplete) && runs.Length == 0) throw new CliException("--leave-cv-incomplete goes with --delete-run", 2);

        // Every run named is checked before any goes, so a refusal (an active model, a fold not confirmed) deletes nothing.
        var checkedRuns = new List<RunDependencies>();
        foreach (var run in runs) checkedRuns.Add(await dependents.OfAsync(run, cancellationToken));
        foreach (var run in checkedRuns)
        {
            if (run.Refusal is { } why) throw new CliException(why);
            if (run.ConfirmationNeeded is { } warning && !parse.GetValue(leaveCvIncomplete))
                throw new CliException($"{warning} Add --leave-cv-incomplete to delete it; nothing was deleted.");
        }

        var deletions = new List<StorageDeletion>();
        foreach (var run in checkedRuns)
        {
            deletions.Add(await runDeletion.DeleteAsync(run.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture), parse.GetValue(leaveCvIncomplete), cancellationToken));
        }
        if (parse.GetValue(deleteDataset) is { } dataset) deletions.Add(await inventory.DeleteDatasetAsync(dataset, parse.GetValue(withRuns), cancellationToken));
        if (parse.GetValue(deleteStaging)) deletions.Add(inventory.DeleteStaging());
        if (parse.GetValue(deleteUnreferenced)) deletions.Add(await inventory.DeleteUnreferencedAsync(cancellationToken));
        bool deleting = WritesDataFor(parse);
        var done = StorageDeletion.Combine(deletions);
        var removed = done.Removed;
        long freed = done.FreedBytes;

        var report = await inventory.ListAsync(cancellationToken);
        // A listing beside a running portal: staged uploads may be in use by it, which only it knows.
        string folder = storage.DataDirectoryFullPath;
        bool held = !deleting && DataFolderLock.IsHeld(folder);
        string? heldBy = held ? DataFolderLock.DescribeHolder(DataFolderLock.FindHolder(folder, out int? holderPid), holderPid) : null;
        output.WriteResult(new
        {
            dataDir = report.Root,
            report.TotalBytes,
            report.DatabaseBytes,
            report.JobDatabaseBytes,
            report.OtherBytes,
            report.StoreBytes,
            report.Datasets,
            report.Runs,
            report.Models,
            report.Staging,
            report.StagingBytes,
            report.StagingQuotaBytes,
            report.Unreferenced,
            report.UnreferencedBytes,
            report.ReserveBytes,
            heldBy,
            deleted = deleting ? new { removed, freedBytes = freed, summary = done.Summary, updated = done.Updated } : null,
        }, w =>
        {
            if (deleting)
            {
                w.WriteLine($"Deleted {done.Summary}; {Size(freed)} freed");
                foreach (var u in done.Updated) w.WriteLine($"  ! {u}");
                foreach (var r in removed.Take(20)) w.WriteLine($"  - {r}");
                if (removed.Count > 20) w.WriteLine($"  … and {removed.Count - 20:N0} more");
            }
            w.WriteLine($"Data folder {report.Root}: {Size(report.TotalBytes)}");
            w.WriteLine($"  images and thumbnails {Size(report.StoreBytes)}, database {Size(report.DatabaseBytes)}, job database {Size(report.JobDatabaseBytes)}, other {Size(report.OtherBytes)}");
            w.WriteLine($"  reserve {Size(report.ReserveBytes)} ({DataFolderSpace.ReserveFileName}: not data; released when the disk is full so a deletion has room)");
            w.WriteLine($"  datasets ({report.Datasets.Count}):");
            foreach (var d in report.Datasets)
            {
                w.WriteLine($"    {d.Name,-30} {d.Images,8:N0} images {Size(d.ImageBytes),10} + thumbnails {Size(d.ThumbnailBytes),9}; deleting frees {Size(d.OwnBytes)}; {d.Splits} split(s){(d.Runs.Count > 0 ? $"; runs: {string.Join(", ", d.Runs)}" : "")}");
            }
            w.WriteLine($"  runs ({report.Runs.Count}):");
            foreach (var r in report.Runs)
            {
                w.WriteLine($"    {r.Id,4} {r.Name,-30} {r.Status,-11} {Size(r.Bytes),10} ({r.Checkpoints} checkpoint file(s) {Size(r.CheckpointBytes)}, model {Size(r.ModelBytes)}) split {r.Split}" +
                            (r.CrossValidation is { } cv ? $"; fold {r.Fold} of {cv}" : "") + (r.ActiveModel is { } active ? $"; exported the active model {active}" : ""));
            }
            w.WriteLine($"  models ({report.Models.Count}):");
            foreach (var m in report.Models) w.WriteLine($"    {m.Name,-30} {Size(m.Bytes),10}{(m.Active ? " active" : "")}{(m.Exists ? "" : " FILE MISSING")} {m.OnnxPath}");
            w.WriteLine($"  staged uploads: {Size(report.StagingBytes)} of {Size(report.StagingQuotaBytes)} allowed ({report.Staging.Count}){(heldBy is not null ? $"; the folder is held by {heldBy}, which may be using them" : "")}");
            foreach (var s in report.Staging) w.WriteLine($"    {s.Name} {Size(s.Bytes),10} {s.ModifiedAt:u}{(s.InUse ? " in use" : "")}");
            w.WriteLine($"  unreferenced: {report.Unreferenced.Count:N0} file(s), {Size(report.UnreferencedBytes)}{(report.Unreferenced.Count > 0 ? " (storage --delete-unreferenced)" : "")}");
            foreach (var u in report.Unreferenced.Take(10)) w.WriteLine($"    {u.Kind,-10} {u.Path} {Size(u.Bytes)}");
        });
        return 0;
    }

    private static string Size(long bytes) => Services.Datasets.UploadStaging.Bytes(bytes);
}
