using WbcPortal.Services.Accounts;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Options;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Storage;

/// <summary>A dataset as storage sees it. <see cref="OwnBytes"/>: what deleting it frees (files no other dataset uses).</summary>
public sealed record StoredDataset(int Id, string Name, int Images, int Files, long ImageBytes, long ThumbnailBytes, long OwnBytes,
    int Splits, IReadOnlyList<string> Runs);

/// <summary>
/// A run's folder (<c>runs/&lt;id&gt;</c>): checkpoints, exported model and everything else in it. <see cref="NotDeletable"/>: why
/// it may not be deleted (<see cref="Training.RunLifecycle.DeletionRefusal"/>); a fold of a cross-validation may, once confirmed.
/// </summary>
public sealed record StoredRun(int Id, string Name, string Status, string Split, string Dataset, int Checkpoints, long CheckpointBytes,
    long ModelBytes, long Bytes, string? Model, string? NotDeletable)
{
    /// <summary>The cross-validation this run is a fold of, and which fold; null for a plain run.</summary>
    public string? CrossValidation { get; init; }
    public int? Fold { get; init; }

    /// <summary>The active model, when it was exported from this run.</summary>
    public string? ActiveModel { get; init; }
}

public sealed record StoredModel(int Id, string Name, string OnnxPath, long Bytes, bool Exists, bool Active, int? RunId);

/// <summary>A staged upload; <see cref="Use"/> says who holds it ("in use by its upload of cells.zip", "idle: ..."), null for a leftover.</summary>
public sealed record StagedUpload(string Name, long Bytes, DateTimeOffset ModifiedAt, bool InUse, string? Use = null);

/// <summary>A file or folder no row references: <see cref="Kind"/> is image, thumbnail, temp or run-folder.</summary>
public sealed record UnreferencedFile(string Path, string Kind, long Bytes);

/// <summary>What the data folder holds, with sizes. Paths are relative to <see cref="Root"/>.</summary>
public sealed record DataFolderReport(
    string Root,
    long TotalBytes,
    long DatabaseBytes,
    long JobDatabaseBytes,
    long OtherBytes,
    long StoreBytes,
    IReadOnlyList<StoredDataset> Datasets,
    IReadOnlyList<StoredRun> Runs,
    IReadOnlyList<StoredModel> Models,
    IReadOnlyList<StagedUpload> Staging,
    long StagingBytes,
    long StagingQuotaBytes,
    IReadOnlyList<UnreferencedFile> Unreferenced,
    long UnreferencedBytes,
    long ReserveBytes);

/// <summary>
/// What a deletion removed: rows' objects by name, bytes freed on disk, what each kind counts (for <see cref="Summary"/>, in
/// words) and the records it changed rather than removed (a cross-validation left incomplete).
/// </summary>
public sealed record StorageDeletion(IReadOnlyList<string> Removed, long FreedBytes)
{
    public int Datasets { get; init; }
    /// <summary>Images the deleted datasets held.</summary>
    public int Images { get; init; }
    public int Runs { get; init; }
    /// <summary>Registered models deleted with their runs.</summary>
    public int Models { get; init; }
    /// <summary>Files in the deleted runs' folders.</summary>
    public int RunFiles { get; init; }
    public int StagedUploads { get; init; }
    public int UnreferencedFiles { get; init; }

    /// <summary>Records kept but changed, one sentence each ("Cross-validation 'cv' is incomplete now (fold 1 deleted)…").</summary>
    public IReadOnlyList<string> Updated { get; init; } = [];

    /// <summary>"1 run, its model and its 2 files"; "1 dataset (120 images) and 2 runs with their 2 models and 9 files"; "nothing".</summary>
    public string Summary
    {
        get
        {
            var parts = new List<string>();
            if (Datasets > 0) parts.Add($"{Count(Datasets, "dataset")} ({Count(Images, "image")})");
            if (Runs > 0)
            {
                string their = Runs == 1 ? "its" : "their";
                var with = new List<string>();
                if (Models > 0) with.Add(Models == 1 ? $"{their} model" : $"{their} {Models:N0} models");
                if (RunFiles > 0) with.Add(RunFiles == 1 ? $"{their} file" : $"{their} {RunFiles:N0} files");
                parts.Add(with.Count == 0 ? Count(Runs, "run") : $"{Count(Runs, "run")}{(Datasets > 0 || with.Count > 1 ? ", " : " and ")}{string.Join(" and ", with)}");
            }
            if (StagedUploads > 0) parts.Add(Count(StagedUploads, "staged upload"));
            if (UnreferencedFiles > 0) parts.Add($"{Count(UnreferencedFiles, "file")} nothing used");
            return parts.Count switch
            {
                0 => "nothing",
                1 => parts[0],
                _ => string.Join("; ", parts),
            };
        }
    }

    /// <summary>What a page or the CLI says when done: the summary, the bytes freed, then each record updated.</summary>
    public string Sentence => $"Deleted {Summary}; {UploadStaging.Bytes(FreedBytes)} freed." + (Updated.Count == 0 ? "" : " " + string.Join(" ", Updated));

    public static StorageDeletion Combine(IEnumerable<StorageDeletion> deletions)
    {
        var all = deletions.ToList();
        return new StorageDeletion(all.SelectMany(d => d.Removed).ToList(), all.Sum(d => d.FreedBytes))
        {
            Datasets = all.Sum(d => d.Datasets),
            Images = all.Sum(d => d.Images),
            Runs = all.Sum(d => d.Runs),
            Models = all.Sum(d => d.Models),
            RunFiles = all.Sum(d => d.RunFiles),
            StagedUploads = all.Sum(d => d.StagedUploads),
            UnreferencedFiles = all.Sum(d => d.UnreferencedFiles),
            Updated = all.SelectMany(d => d.Updated).Distinct().ToList(),
        };
    }

    private static string Count(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n:N0} {noun}s";
}

/// <summary>
/// Lists what the data folder holds (datasets, runs, models, staged uploads, databases, files nothing references)
/// with sizes, and deletes what a user chooses. Never deletes a file a row references: rows go first, files after,
/// and an unreferenced file is one found on disk before the database was asked, so a file written meanwhile is not
/// in the list. Work in progress is refused: queued or running runs, datasets with a job, staged uploads in use,
/// and unreferenced files while a dataset job runs (its files may be moving from staging into the store). The folder's
/// reserve (<see cref="DataFolderSpace"/>) is listed apart, not as data; a deletion on a full disk releases it first, so
/// the database has room for its journal, and makes it up again after when space allows. A read-only portal deletes nothing.
/// </summary>
public sealed class DataFolderInventory(
    IDbContextFactory<WbcDbContext> contexts,
    StorageOptions storage,
    ImageStore store,
    DatasetService datasets,
    UploadStaging staging,
    Accounts.AccessControl access,
    Accounts.AuditLog audit,
    DataFolderSpace space,
    Training.RunDependents dependents,
    Training.RunDeletion runDeletion,
    PortalJobs? jobs = null) // the web host's jobs; the headless verbs have none (the data folder's lock keeps the portal out)
{
    private string Root => storage.DataDirectoryFullPath;

    public async Task<DataFolderReport> ListAsync(CancellationToken cancellationToken = default)
    {
        // Disk first, then rows: a file written after this listing is never taken for unreferenced.
        var files = await Task.Run(() => StoreFiles(), cancellationToken);
        if (storage.ConnectionString is null && !File.Exists(storage.DatabasePath)) return DiskOnly();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // A read-only listing never migrates: a database no portal or verb has set up yet holds nothing.
        if (!(await db.Database.GetAppliedMigrationsAsync(cancellationToken)).Any()) return DiskOnly();

        var stored = (await db.StoredImages.AsNoTracking().Select(s => s.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var datasetRows = await db.Datasets.AsNoTracking().OrderBy(d => d.Name).Select(d => new { d.Id, d.Name }).ToListAsync(cancellationToken);
        var images = await db.DatasetImages.AsNoTracking().Select(i => new { i.DatasetId, i.Sha256 }).ToListAsync(cancellationToken);
        var splitRows = await db.Splits.AsNoTracking().Select(s => new { s.Id, s.Name, s.DatasetId }).ToListAsync(cancellationToken);
        var runRows = await db.Runs.AsNoTracking().OrderByDescending(r => r.Id)
            .Select(r => new { r.Id, r.Name, r.Status, r.SplitId, r.CheckpointDirectory, r.ModelPath, r.CrossValidationId, r.Fold }).ToListAsync(cancellationToken);
        var modelRows = await db.Models.AsNoTracking().OrderBy(m => m.Name).ToListAsync(cancellationToken);
        var crossValidations = await db.CrossValidations.AsNoTracking().ToDictionaryAsync(c => c.Id, c => c.Name, cancellationToken);

        var datasetsOfSha = images.GroupBy(i => i.Sha256).ToDictionary(g => g.Key, g => g.Select(i => i.DatasetId).Distinct().Count(), StringComparer.Ordinal);
        var splitById = splitRows.ToDictionary(s => s.Id);
        var imagesOf = images.ToLookup(i => i.DatasetId);
        var datasetList = datasetRows.Select(d =>
        {
            var shas = imagesOf[d.Id].Select(i => i.Sha256).ToList();
            var distinct = shas.Distinct(StringComparer.Ordinal).ToList();
            long imageBytes = distinct.Sum(s => files.Images.GetValueOrDefault(s));
            long thumbBytes = distinct.Sum(s => files.Thumbnails.GetValueOrDefault(s));
            long own = distinct.Where(s => datasetsOfSha.GetValueOrDefault(s) <= 1).Sum(s => files.Images.GetValueOrDefault(s) + files.Thumbnails.GetValueOrDefault(s));
            var splitIds = splitRows.Where(s => s.DatasetId == d.Id).Select(s => s.Id).ToHashSet();
            var runs = runRows.Where(r => splitIds.Contains(r.SplitId)).Select(r => r.Name).ToList();
            return new StoredDataset(d.Id, d.Name, shas.Count, distinct.Count, imageBytes, thumbBytes, own, splitIds.Count, runs);
        }).ToList();

        var runList = runRows.Select(r =>
        {
            string folder = RunFolder(r.Id);
            string checkpoints = Path.Combine(Root, r.CheckpointDirectory);
            var checkpointFiles = r.CheckpointDirectory.Length > 0 && Directory.Exists(checkpoints) ? Directory.GetFiles(checkpoints, "*", SearchOption.AllDirectories) : [];
            long modelBytes = r.ModelPath is { } m ? FileLength(Path.Combine(Root, m)) : 0;
            var split = splitById.GetValueOrDefault(r.SplitId);
            string dataset = split is null ? "" : datasetRows.FirstOrDefault(d => d.Id == split.DatasetId)?.Name ?? "";
            // The rule deletion checks (RunDependents.ModelsOf): a model under the run's folder or at its model path.
            string? active = modelRows.FirstOrDefault(m => m.IsActive && (RunOfPath(m.OnnxPath) == r.Id || m.OnnxPath == r.ModelPath))?.Name;
            return new StoredRun(r.Id, r.Name, r.Status.ToString(), split?.Name ?? "", dataset, checkpointFiles.Length, checkpointFiles.Sum(FileLength),
                modelBytes, UploadStaging.DirectorySize(folder), r.ModelPath, Training.RunLifecycle.DeletionRefusal(r.Status, r.Name, active))
            {
                CrossValidation = r.CrossValidationId is int cv ? crossValidations.GetValueOrDefault(cv) : null,
                Fold = r.CrossValidationId is null ? null : r.Fold,
                ActiveModel = active,
            };
        }).ToList();

        var modelList = modelRows.Select(m =>
        {
            string path = Path.Combine(Root, m.OnnxPath);
            return new StoredModel(m.Id, m.Name, m.OnnxPath, FileLength(path), File.Exists(path), m.IsActive, RunOfPath(m.OnnxPath));
        }).ToList();

        var stagingList = StagedUploads();
        var runIds = runRows.Select(r => r.Id).ToHashSet();
        var runStatus = runRows.ToDictionary(r => r.Id, r => r.Status);
        var unreferenced = Unreferenced(files, stored, runIds, runStatus);

        // PostgreSQL keeps its database on its own server: its size as the server counts it (the portal's tables and Hangfire's).
        long database = storage.Provider == Options.StorageProvider.PostgreSql
            ? await db.Database.SqlQueryRaw<long>("SELECT pg_database_size(current_database()) AS \"Value\"").SingleAsync(cancellationToken)
            : FamilyBytes(storage.DatabasePath);
        long jobDatabase = FamilyBytes(DataFolderLayout.JobDatabasePath(Root));
        long total = Directory.Exists(Root) ? UploadStaging.DirectorySize(Root) : 0;
        long reserve = space.ReserveBytes();
        long known = (storage.Provider == Options.StorageProvider.PostgreSql ? 0 : database) + jobDatabase + reserve + files.Images.Values.Sum() + files.Thumbnails.Values.Sum() + files.Temp.Sum(t => t.Bytes)
            + (Directory.Exists(DataFolderLayout.RunsFolder(Root)) ? UploadStaging.DirectorySize(DataFolderLayout.RunsFolder(Root)) : 0)
            + stagingList.Sum(s => s.Bytes) + files.StrayBytes;
        // Stored images and thumbnails some dataset holds, each file once however many datasets share it.
        long storeBytes = files.Images.Where(f => stored.Contains(f.Key)).Sum(f => f.Value) + files.Thumbnails.Where(f => stored.Contains(f.Key)).Sum(f => f.Value);
        return new DataFolderReport(Root, total, database, jobDatabase, Math.Max(0, total - known), storeBytes,
            datasetList, runList, modelList, stagingList, stagingList.Sum(s => s.Bytes), staging.MaxStagingBytes,
            unreferenced, unreferenced.Sum(u => u.Bytes), reserve);
    }

    /// <summary>Nothing imported or trained here yet: what is on disk, no rows.</summary>
    private DataFolderReport DiskOnly()
    {
        var staged = StagedUploads();
        return new DataFolderReport(Root, Directory.Exists(Root) ? UploadStaging.DirectorySize(Root) : 0, 0, 0, 0, 0, [], [], [], staged,
            staged.Sum(s => s.Bytes), staging.MaxStagingBytes, [], 0, space.ReserveBytes());
    }

    /// <summary>
    /// Deletes a dataset (its images, splits and the stored files no other dataset uses). Refused while a job works on
    /// it, and, unless <paramref name="withRuns"/>, while a run was trained on one of its splits (those runs go too when
    /// it is given; never a queued or running one, nor one whose model is the active model: each is checked before anything goes).
    /// </summary>
    [Demands(PortalAction.Delete)]
    public async Task<StorageDeletion> DeleteDatasetAsync(string idOrName, bool withRuns, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Delete);
        return await WithRoomAsync(() => DeleteDatasetCoreAsync(idOrName, withRuns, cancellationToken));
    }

    private async Task<StorageDeletion> DeleteDatasetCoreAsync(string idOrName, bool withRuns, CancellationToken cancellationToken)
    {
        var dataset = await datasets.GetAsync(idOrName, cancellationToken);
        if (jobs?.Recent(subject: dataset.Name).FirstOrDefault(j => !j.Finished) is { } job)
        {
            throw new InvalidOperationException($"Dataset '{dataset.Name}' has a {job.KindName} job {job.State.ToString().ToLowerInvariant()}; cancel it or wait before deleting the dataset.");
        }
        List<(int Id, string Name, RunStatus Status)> runs;
        List<string> crossValidations;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            runs = (await db.Runs.AsNoTracking().Where(r => db.Splits.Any(s => s.Id == r.SplitId && s.DatasetId == dataset.Id))
                .Select(r => new { r.Id, r.Name, r.Status }).ToListAsync(cancellationToken)).Select(r => (r.Id, r.Name, r.Status)).ToList();
            crossValidations = await db.CrossValidations.AsNoTracking().Where(c => c.SourceSplit!.DatasetId == dataset.Id).OrderBy(c => c.Name).Select(c => c.Name).ToListAsync(cancellationToken);
        }
        // Every run is checked before any goes: a dataset is never left half deleted by a run that may not go.
        foreach (var dependencies in await dependents.OfAsync(runs.Select(r => r.Id), cancellationToken))
        {
            if (dependencies.Refusal is { } why) throw new InvalidOperationException($"Dataset '{dataset.Name}' is used by run '{dependencies.RunName}', which may not be deleted: {why}");
        }
        if (runs.Count > 0 && !withRuns)
        {
            throw new InvalidOperationException($"Dataset '{dataset.Name}' is used by {runs.Count} run(s) ({string.Join(", ", runs.Take(5).Select(r => r.Name))}{(runs.Count > 5 ? ", …" : "")}); delete those runs with it (storage --with-runs, or the Storage page), or keep the dataset.");
        }
        var deletions = new List<StorageDeletion>();
        foreach (var run in runs)
        {
            // Its cross-validations go with the dataset (their source split is one of its splits): nothing is left incomplete.
            deletions.Add(await runDeletion.DeleteAsync(run.Id.ToString(CultureInfo.InvariantCulture), leaveCrossValidationIncomplete: true, cancellationToken));
        }
        var before = await ListDatasetOwnBytesAsync(dataset.Id, cancellationToken);
        await datasets.DeleteAsync(dataset.Id, cancellationToken);
        var runsGone = StorageDeletion.Combine(deletions);
        var removed = runsGone.Removed.Concat(crossValidations.Select(c => $"cross-validation {c}")).Append($"dataset {dataset.Name}").ToList();
        var deletion = new StorageDeletion(removed, runsGone.FreedBytes + before)
        {
            Datasets = 1, Images = dataset.Images, Runs = runsGone.Runs, Models = runsGone.Models, RunFiles = runsGone.RunFiles,
        };
        await audit.RecordAsync(AuditAction.StorageDeleted, $"dataset '{idOrName}'", $"deleted {deletion.Summary}" + (crossValidations.Count > 0 ? $" and cross-validation(s) {string.Join(", ", crossValidations)}" : ""),
            cancellationToken: CancellationToken.None);
        return deletion;
    }

    private async Task<long> ListDatasetOwnBytesAsync(int datasetId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var own = await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId)
            .Where(i => !db.DatasetImages.Any(o => o.Sha256 == i.Sha256 && o.DatasetId != datasetId))
            .Select(i => new { i.Sha256, i.Stored!.Format }).Distinct().ToListAsync(cancellationToken);
        return own.Sum(s => FileLength(store.ImagePath(s.Sha256, s.Format)) + FileLength(store.ThumbnailPath(s.Sha256)));
    }

    /// <summary>Deletes staged uploads no upload or import is using; an idle upload (<c>Import:StagingIdleMinutes</c>) is not using its own.</summary>
    [Demands(PortalAction.ManageStorage)]
    public StorageDeletion DeleteStaging()
    {
        access.Demand(PortalAction.ManageStorage);
        MakeRoomToDelete();
        try
        {
            var before = StagedUploads().Where(s => !s.InUse).Select(s => $"staged upload {s.Name}").ToList();
            long freed = staging.Sweep();
            return new StorageDeletion(before, freed) { StagedUploads = before.Count };
        }
        finally
        {
            space.EnsureReserve();
        }
    }

    /// <summary>Deletes files and run folders no row references (listed fresh). Refused while a dataset job runs.</summary>
    [Demands(PortalAction.ManageStorage)]
    public async Task<StorageDeletion> DeleteUnreferencedAsync(CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageStorage);
        return await WithRoomAsync(() => DeleteUnreferencedCoreAsync(cancellationToken));
    }

    private async Task<StorageDeletion> DeleteUnreferencedCoreAsync(CancellationToken cancellationToken)
    {
        if (jobs?.Recent().FirstOrDefault(j => !j.Finished) is { } job)
        {
            throw new InvalidOperationException($"A {job.KindName} job on '{job.Subject}' is {job.State.ToString().ToLowerInvariant()}; unreferenced files are only removed when no dataset job runs (an import may be moving files into the store).");
        }
        var report = await ListAsync(cancellationToken);
        var removed = new List<string>();
        long freed = 0;
        foreach (var item in report.Unreferenced)
        {
            string path = Path.Combine(Root, item.Path);
            try
            {
                if (item.Kind == "run-folder") Directory.Delete(path, recursive: true);
                else File.Delete(path);
                removed.Add(item.Path);
                freed += item.Bytes;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Left for the next clean-up; listing it again shows it.
            }
        }
        await audit.RecordAsync(AuditAction.StorageDeleted, "files nothing uses", null, cancellationToken: CancellationToken.None);
        return new StorageDeletion(removed, freed) { UnreferencedFiles = removed.Count };
    }

    /// <summary>
    /// Runs a deletion: refused on a read-only portal; on a full disk the reserve goes first (the database needs room for
    /// its journal even to delete), and it is made up again after, whatever happened, where space allows.
    /// </summary>
    private async Task<StorageDeletion> WithRoomAsync(Func<Task<StorageDeletion>> delete)
    {
        MakeRoomToDelete();
        try
        {
            return await delete();
        }
        finally
        {
            space.EnsureReserve();
        }
    }

    private void MakeRoomToDelete()
    {
        if (storage.ReadOnly)
            throw new InvalidOperationException(storage.ReadOnlyRefusal("deleting is done on the portal that holds the data folder, or with WbcPortal storage --delete-… when no process holds it"));
        space.ReleaseReserveIfLow();
    }

    /// <summary>Why a run's folder may not be touched now (the lifecycle table's rule: it is queued or training), or null.</summary>
    private static string? WhyRunCannotGo(RunStatus status) =>
        Training.RunLifecycle.Allows(status, Training.RunAction.Delete) ? null : $"is {status.ToString().ToLowerInvariant()}; stop it first";

    private string RunFolder(int id) => DataFolderLayout.RunFolder(Root, id);

    private static int? RunOfPath(string relative) => DataFolderLayout.RunOf(relative);

    private List<StagedUpload> StagedUploads()
    {
        if (!Directory.Exists(staging.Root)) return [];
        return Directory.EnumerateDirectories(staging.Root).Select(dir => (Dir: dir, Use: staging.UseOf(dir)))
            .Select(d => new StagedUpload(Path.GetFileName(d.Dir), UploadStaging.DirectorySize(d.Dir), Directory.GetLastWriteTimeUtc(d.Dir), d.Use?.InUse ?? false, d.Use?.Use))
            .Concat(Directory.EnumerateFiles(staging.Root).Select(f => new StagedUpload(Path.GetFileName(f), FileLength(f), File.GetLastWriteTimeUtc(f), false)))
            .OrderBy(s => s.ModifiedAt).ToList();
    }

    private sealed record StoreListing(Dictionary<string, long> Images, Dictionary<string, long> Thumbnails, List<UnreferencedFile> Temp,
        List<UnreferencedFile> Odd, long StrayBytes);

    /// <summary>Every file under <c>images/</c> and <c>thumbs/</c> by hash, and the temp files left there.</summary>
    private StoreListing StoreFiles()
    {
        var images = new Dictionary<string, long>(StringComparer.Ordinal);
        var thumbs = new Dictionary<string, long>(StringComparer.Ordinal);
        var temp = new List<UnreferencedFile>();
        var odd = new List<UnreferencedFile>();
        foreach (var (folder, target, kind) in new[] { ("images", images, "image"), ("thumbs", thumbs, "thumbnail") })
        {
            var dir = Path.Combine(Root, folder);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                string name = Path.GetFileName(file);
                long length = FileLength(file);
                if (name.EndsWith(".tmp", StringComparison.Ordinal)) temp.Add(new(Path.GetRelativePath(Root, file), "temp", length));
                else if (ImageStore.IsValidSha(name.Split('.')[0])) target[name.Split('.')[0]] = target.GetValueOrDefault(name.Split('.')[0]) + length;
                else odd.Add(new(Path.GetRelativePath(Root, file), kind, length));
            }
        }
        return new StoreListing(images, thumbs, temp, odd, odd.Sum(o => o.Bytes));
    }

    private List<UnreferencedFile> Unreferenced(StoreListing files, HashSet<string> stored, HashSet<int> runIds, Dictionary<int, RunStatus> runStatus)
    {
        var list = new List<UnreferencedFile>();
        list.AddRange(files.Images.Where(f => !stored.Contains(f.Key)).SelectMany(f => StoredPaths("images", f.Key, "image")));
        list.AddRange(files.Thumbnails.Where(f => !stored.Contains(f.Key)).SelectMany(f => StoredPaths("thumbs", f.Key, "thumbnail")));
        list.AddRange(files.Temp);
        list.AddRange(files.Odd);
        var runs = DataFolderLayout.RunsFolder(Root);
        if (Directory.Exists(runs))
        {
            foreach (var dir in Directory.EnumerateDirectories(runs))
            {
                bool isRun = int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var id);
                if (!isRun || !runIds.Contains(id))
                {
                    list.Add(new(Path.GetRelativePath(Root, dir), "run-folder", UploadStaging.DirectorySize(dir)));
                }
                else if (WhyRunCannotGo(runStatus[id]) is null)
                {
                    // A finished run's half-written temp files (a checkpoint or export cut short); a running one's are live.
                    list.AddRange(Directory.EnumerateFiles(dir, "*.tmp", SearchOption.AllDirectories).Select(f => new UnreferencedFile(Path.GetRelativePath(Root, f), "temp", FileLength(f))));
                }
            }
        }
        return list.OrderBy(u => u.Kind, StringComparer.Ordinal).ThenBy(u => u.Path, StringComparer.Ordinal).ToList();
    }

    private IEnumerable<UnreferencedFile> StoredPaths(string folder, string sha, string kind)
    {
        var dir = Path.Combine(Root, folder, sha[..2]);
        if (!Directory.Exists(dir)) yield break;
        foreach (var file in Directory.EnumerateFiles(dir, sha + ".*"))
        {
            if (!file.EndsWith(".tmp", StringComparison.Ordinal)) yield return new(Path.GetRelativePath(Root, file), kind, FileLength(file));
        }
    }

    private static long FamilyBytes(string path) => FileLength(path) + FileLength(path + "-wal") + FileLength(path + "-shm") + FileLength(path + "-journal");

    private static long FileLength(string path) => DataFolderSpace.FileLength(path);
}
