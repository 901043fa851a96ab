using WbcPortal.Services.Accounts;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Datasets;

/// <summary>Datasets: import, list, browse and delete. Files are checked and stored by the Engine; rows are written in one transaction per import.</summary>
public sealed class DatasetService(
    IDbContextFactory<WbcDbContext> contexts,
    ImageImporter importer,
    ImageStore store,
    ImportLimits limits,
    TimeProvider clock,
    Options.StorageOptions storage,
    ILogger<DatasetService> logger, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    public ImageStore Store => store;

    public static string ValidateName(string? name)
    {
        var trimmed = name?.Trim() ?? "";
        if (trimmed.Length is 0 or > 200) throw new ArgumentException("A dataset name needs 1 to 200 characters.");
        return trimmed;
    }

    public Task<DatasetImportSummary> ImportFolderAsync(string datasetName, string folder, IProgress<ImportProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ImportAsync(datasetName, ImportSources.FromFolder(folder, limits, cancellationToken), $"folder {Path.GetFileName(Path.TrimEndingDirectorySeparator(folder))}", progress, cancellationToken);

    public async Task<DatasetImportSummary> ImportZipAsync(string datasetName, string zipPath, string? displayName = null, IProgress<ImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var zip = ImportSources.FromZip(zipPath, limits, importer.MaxFileBytes);
        return await ImportAsync(datasetName, zip.Entries, $"zip {displayName ?? Path.GetFileName(zipPath)}", progress, cancellationToken);
    }

    /// <summary>
    /// Imports in batches of <see cref="ImportLimits.CommitBatchSize"/> files (Import:CommitBatchSize): each batch's new files are written to a staging folder, its
    /// rows committed in one transaction, then its files moved into the store. A stop, a full disk or a database error
    /// ends the import with every earlier batch kept (rows and files) and nothing of the failed batch; importing the
    /// same source again continues where it stopped (files already in the dataset are skipped as duplicates). No
    /// dataset row is created until an image is accepted.
    /// </summary>
    [Demands(PortalAction.Import)]
    public async Task<DatasetImportSummary> ImportAsync(
        string datasetName,
        IReadOnlyList<ImportEntry> entries,
        string source,
        IProgress<ImportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Import);
        datasetName = ValidateName(datasetName);
        if (entries.Count == 0) throw new ArgumentException("Nothing to import: no files were found.");
        var watch = Stopwatch.StartNew();
        HashSet<string> inDataset;
        int? datasetId;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var existing = await db.Datasets.Where(d => d.Name == datasetName).Select(d => new { d.Id, d.ParentDatasetId, d.Version }).SingleOrDefaultAsync(cancellationToken);
            if (existing is { Version: > 1 })
                throw new ArgumentException($"'{datasetName}' is a dataset version made from review decisions: versions are immutable. Import into a new dataset, or into the dataset it was made from.");
            datasetId = existing?.Id;
            inDataset = datasetId is null
                ? new HashSet<string>(StringComparer.Ordinal)
                : (await db.DatasetImages.Where(i => i.DatasetId == datasetId).Select(i => i.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        }

        using var staging = store.BeginStaging();
        var images = new List<ImportedImage>();
        var rejected = new List<ImportOutcome>();
        int? recordId = null;
        for (int start = 0; start < entries.Count; start += limits.CommitBatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = entries.Skip(start).Take(limits.CommitBatchSize).ToList();
            int offset = start, acceptedBefore = images.Count, rejectedBefore = rejected.Count;
            var batchProgress = progress is null ? null : new OffsetProgress(progress, p => p with
            {
                Done = offset + p.Done, Total = entries.Count, Accepted = acceptedBefore + p.Accepted, Rejected = rejectedBefore + p.Rejected,
            });
            var result = await Task.Run(() => importer.Import(batch, staging, inDataset, batchProgress, cancellationToken), cancellationToken);
            var batchRejected = result.Outcomes.Where(o => !o.Accepted).ToList();
            (datasetId, recordId) = await CommitBatchAsync(datasetName, datasetId, recordId, source, result.Images, batchRejected, cancellationToken);
            staging.Promote(result.Images.Select(i => (i.Sha256, i.Format)));
            inDataset.UnionWith(result.Images.Select(i => i.Sha256));
            images.AddRange(result.Images);
            rejected.AddRange(batchRejected);
        }

        if (datasetId is null)
        {
            var reasons = rejected.GroupBy(o => o.Reason).OrderByDescending(g => g.Count())
                .Select(g => $"{g.Count():N0} {g.First().Message}").Take(3);
            throw new ArgumentException($"Nothing was imported: none of the {entries.Count:N0} files is a usable image ({string.Join("; ", reasons)}). No dataset was created.");
        }
        logger.LogInformation("Imported {Accepted} images into {Dataset} ({Rejected} not imported) in {Seconds:F1} s", images.Count, datasetName, rejected.Count, watch.Elapsed.TotalSeconds);
        var classes = images.GroupBy(i => i.ClassName).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        await audit.RecordAsync(AuditAction.Import, $"dataset {datasetId.Value} '{datasetName}'", $"{images.Count:N0} images from {source}; {rejected.Count:N0} not imported", cancellationToken: CancellationToken.None);
        return new DatasetImportSummary(datasetId.Value, datasetName, images.Count, classes,
            rejected.Count(o => o.Reason == ImportReason.Duplicate), rejected, watch.Elapsed.TotalSeconds);
    }

    /// <summary>One batch's rows in one transaction: the dataset (created with its first accepted image), stored images, dataset images and the import record's counts.</summary>
    private async Task<(int? DatasetId, int? RecordId)> CommitBatchAsync(
        string datasetName, int? datasetId, int? recordId, string source,
        IReadOnlyList<ImportedImage> accepted, IReadOnlyList<ImportOutcome> batchRejected, CancellationToken cancellationToken)
    {
        if (datasetId is null && accepted.Count == 0) return (null, null);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var now = clock.GetUtcNow();
        Dataset dataset;
        if (datasetId is null)
        {
            if (await db.Datasets.AnyAsync(d => d.Name == datasetName, cancellationToken))
                throw new InvalidOperationException($"Dataset '{datasetName}' was created by another import while this one ran; import again to add to it.");
            dataset = new Dataset { Name = datasetName, CreatedAt = now };
            db.Datasets.Add(dataset);
            await db.SaveChangesAsync(cancellationToken);
        }
        else
        {
            dataset = await db.Datasets.SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken)
                ?? throw new InvalidOperationException($"Dataset '{datasetName}' was deleted while this import ran.");
            if (accepted.Count > 0 && dataset.GroupedAt is not null)
            {
                dataset.GroupedAt = null; // new images: source groups must be found again
                dataset.GroupCount = 0;
                db.Datasets.Update(dataset);
            }
        }

        var shas = accepted.Select(i => i.Sha256).ToList();
        var known = (await db.StoredImages.Where(s => shas.Contains(s.Sha256)).Select(s => s.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        foreach (var image in accepted)
        {
            if (known.Add(image.Sha256))
            {
                db.StoredImages.Add(new StoredImage { Sha256 = image.Sha256, Format = image.Format, Width = image.Width, Height = image.Height, Bytes = image.Bytes });
            }
            db.DatasetImages.Add(new DatasetImage
            {
                DatasetId = dataset.Id,
                ClassName = image.ClassName,
                RelativePath = image.RelativePath,
                FolderPart = image.FolderPart,
                Sha256 = image.Sha256,
            });
        }
        ImportRecord record;
        if (recordId is null)
        {
            record = new ImportRecord { DatasetId = dataset.Id, Source = source, At = now };
            db.Imports.Add(record);
        }
        else
        {
            record = await db.Imports.SingleAsync(r => r.Id == recordId, cancellationToken);
            db.Imports.Update(record);
        }
        record.Accepted += accepted.Count;
        record.Rejected += batchRejected.Count;
        foreach (var o in batchRejected)
        {
            record.Outcomes.Add(new ImportOutcomeRow { RelativePath = o.RelativePath, Reason = o.Reason.ToString(), Message = o.Message, ClassName = o.ClassName });
        }
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (dataset.Id, record.Id);
    }

    /// <summary>Reports a batch's progress as the whole import's.</summary>
    private sealed class OffsetProgress(IProgress<ImportProgress> inner, Func<ImportProgress, ImportProgress> map) : IProgress<ImportProgress>
    {
        public void Report(ImportProgress value) => inner.Report(map(value));
    }

    public async Task<IReadOnlyList<DatasetSummary>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var datasets = await db.Datasets.AsNoTracking().OrderBy(d => d.Name).ToListAsync(cancellationToken);
        var counts = await db.DatasetImages.GroupBy(i => new { i.DatasetId, i.ClassName })
            .Select(g => new { g.Key.DatasetId, g.Key.ClassName, Count = g.Count() }).ToListAsync(cancellationToken);
        var splits = await db.Splits.GroupBy(s => s.DatasetId).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, cancellationToken);
        // The originals its images hold now (a version that excluded an original has one fewer than the grouping found).
        var groups = await db.DatasetImages.Where(i => i.SourceGroup != null).GroupBy(i => i.DatasetId)
            .Select(g => new { g.Key, Count = g.Select(i => i.SourceGroup).Distinct().Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, cancellationToken);
        return datasets.Select(d =>
        {
            var classes = counts.Where(c => c.DatasetId == d.Id).OrderBy(c => c.ClassName, StringComparer.Ordinal).ToDictionary(c => c.ClassName, c => c.Count);
            return new DatasetSummary(d.Id, d.Name, d.CreatedAt, classes.Values.Sum(), classes, d.GroupedAt, d.GroupedAt is null ? 0 : groups.GetValueOrDefault(d.Id), splits.GetValueOrDefault(d.Id))
            {
                Version = d.Version,
                ParentId = d.ParentDatasetId,
            };
        }).ToList();
    }

    public async Task<DatasetSummary?> FindAsync(string idOrName, CancellationToken cancellationToken = default)
    {
        var all = await ListAsync(cancellationToken);
        return int.TryParse(idOrName, out var id)
            ? all.FirstOrDefault(d => d.Id == id) ?? all.FirstOrDefault(d => d.Name == idOrName)
            : all.FirstOrDefault(d => d.Name == idOrName);
    }

    public async Task<DatasetSummary> GetAsync(string idOrName, CancellationToken cancellationToken = default) =>
        await FindAsync(idOrName, cancellationToken) ?? throw new ArgumentException($"No dataset '{idOrName}'.");

    public async Task<GalleryPage> GetGalleryAsync(int datasetId, string? className, int skip, int take, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId);
        if (className is not null) query = query.Where(i => i.ClassName == className);
        int total = await query.CountAsync(cancellationToken);
        var items = await query.OrderBy(i => i.RelativePath).Skip(skip).Take(take)
            .Select(i => new GalleryImage(i.Id, i.ClassName, i.RelativePath, i.Sha256, i.Stored!.Width, i.Stored.Height, i.SourceGroup))
            .ToListAsync(cancellationToken);
        return new GalleryPage(items, total);
    }

    public async Task<IReadOnlyList<GalleryImage>> GetImagesAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id)
            .Select(i => new GalleryImage(i.Id, i.ClassName, i.RelativePath, i.Sha256, i.Stored!.Width, i.Stored.Height, i.SourceGroup))
            .ToListAsync(cancellationToken);
    }

    /// <summary>The other images of the same source group (augmented copies of one original).</summary>
    public async Task<IReadOnlyList<GalleryImage>> GetSiblingsAsync(int imageId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var image = await db.DatasetImages.AsNoTracking().SingleOrDefaultAsync(i => i.Id == imageId, cancellationToken);
        if (image?.SourceGroup is not { } group) return [];
        return await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == image.DatasetId && i.SourceGroup == group && i.Id != imageId)
            .OrderBy(i => i.RelativePath)
            .Select(i => new GalleryImage(i.Id, i.ClassName, i.RelativePath, i.Sha256, i.Stored!.Width, i.Stored.Height, i.SourceGroup))
            .ToListAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<ImportRecord>> GetImportsAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Imports.AsNoTracking().Include(r => r.Outcomes).Where(r => r.DatasetId == datasetId).OrderByDescending(r => r.Id).ToListAsync(cancellationToken);
    }

    /// <summary>Deletes a dataset with its images, imports and splits, then the stored files no other dataset uses.</summary>
    [Demands(PortalAction.Delete)]
    public async Task DeleteAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.Delete);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var dataset = await db.Datasets.SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken)
            ?? throw new ArgumentException($"No dataset {datasetId}.");
        var shas = await db.DatasetImages.Where(i => i.DatasetId == datasetId).Select(i => i.Sha256).Distinct().ToListAsync(cancellationToken);
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            // Versions made from it stay whole (their images are their own rows); they only lose the link to it.
            await db.Datasets.Where(d => d.ParentDatasetId == datasetId).ExecuteUpdateAsync(s => s.SetProperty(d => d.ParentDatasetId, (int?)null), cancellationToken);
            db.Datasets.Remove(dataset);
            await db.SaveChangesAsync(cancellationToken);
            var stillUsed = (await db.DatasetImages.Where(i => shas.Contains(i.Sha256)).Select(i => i.Sha256).Distinct().ToListAsync(cancellationToken)).ToHashSet();
            var orphaned = shas.Where(s => !stillUsed.Contains(s)).ToList();
            await db.StoredImages.Where(s => orphaned.Contains(s.Sha256)).ExecuteDeleteAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            shas = orphaned;
        }
        foreach (var sha in shas) store.Delete(sha);
        await audit.RecordAsync(AuditAction.DatasetDeleted, $"dataset {datasetId} '{dataset.Name}'", $"{shas.Count:N0} stored files no other dataset used removed", cancellationToken: CancellationToken.None);
    }

    /// <summary>
    /// Settles what an interrupted import left in the staging area: files whose rows were committed move into the store,
    /// the rest are deleted. Never deletes a file from the store itself. Call only while holding the data folder's lock.
    /// </summary>
    public async Task<StagingRecovery> RecoverStagingAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var referenced = (await db.StoredImages.Select(s => s.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        // A shared folder: the staging of nodes that are gone is settled too; a live node's is its own business.
        return store.RecoverStaging(referenced, storage.SharedByNodes ? WbcPortal.Storage.DataFolderLayout.IsAbandonedNodeFolder : null);
    }
}
