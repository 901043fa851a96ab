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
    ILogger<DatasetService> logger)
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
        using var zip = ImportSources.FromZip(zipPath, limits);
        return await ImportAsync(datasetName, zip.Entries, $"zip {displayName ?? Path.GetFileName(zipPath)}", progress, cancellationToken);
    }

    public async Task<DatasetImportSummary> ImportAsync(
        string datasetName,
        IReadOnlyList<ImportEntry> entries,
        string source,
        IProgress<ImportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        datasetName = ValidateName(datasetName);
        if (entries.Count == 0) throw new ArgumentException("Nothing to import: no files were found.");
        var watch = Stopwatch.StartNew();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var existing = await db.Datasets.SingleOrDefaultAsync(d => d.Name == datasetName, cancellationToken);
        var inDataset = existing is null
            ? new HashSet<string>()
            : (await db.DatasetImages.Where(i => i.DatasetId == existing.Id).Select(i => i.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);

        var result = await Task.Run(() => importer.Import(entries, store, inDataset, progress, cancellationToken), cancellationToken);

        db.ChangeTracker.AutoDetectChangesEnabled = false;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var dataset = existing ?? new Dataset { Name = datasetName, CreatedAt = now };
        if (existing is null)
        {
            db.Datasets.Add(dataset);
        }
        else if (result.Images.Count > 0)
        {
            dataset.GroupedAt = null; // new images: source groups must be found again
            dataset.GroupCount = 0;
            db.Datasets.Update(dataset);
        }
        await db.SaveChangesAsync(cancellationToken);

        var shas = result.Images.Select(i => i.Sha256).ToList();
        var known = (await db.StoredImages.Where(s => shas.Contains(s.Sha256)).Select(s => s.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        foreach (var image in result.Images)
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
        var rejected = result.Outcomes.Where(o => !o.Accepted).ToList();
        db.Imports.Add(new ImportRecord
        {
            DatasetId = dataset.Id,
            Source = source,
            At = now,
            Accepted = result.Images.Count,
            Rejected = rejected.Count,
            Outcomes = rejected.Select(o => new ImportOutcomeRow { RelativePath = o.RelativePath, Reason = o.Reason.ToString(), Message = o.Message, ClassName = o.ClassName }).ToList(),
        });
        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        logger.LogInformation("Imported {Accepted} images into {Dataset} ({Rejected} not imported) in {Seconds:F1} s", result.Images.Count, datasetName, rejected.Count, watch.Elapsed.TotalSeconds);
        return new DatasetImportSummary(dataset.Id, datasetName, result.Images.Count, result.ClassCounts,
            rejected.Count(o => o.Reason == ImportReason.Duplicate), rejected, watch.Elapsed.TotalSeconds);
    }

    public async Task<IReadOnlyList<DatasetSummary>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var datasets = await db.Datasets.AsNoTracking().OrderBy(d => d.Name).ToListAsync(cancellationToken);
        var counts = await db.DatasetImages.GroupBy(i => new { i.DatasetId, i.ClassName })
            .Select(g => new { g.Key.DatasetId, g.Key.ClassName, Count = g.Count() }).ToListAsync(cancellationToken);
        var splits = await db.Splits.GroupBy(s => s.DatasetId).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, cancellationToken);
        return datasets.Select(d =>
        {
            var classes = counts.Where(c => c.DatasetId == d.Id).OrderBy(c => c.ClassName, StringComparer.Ordinal).ToDictionary(c => c.ClassName, c => c.Count);
            return new DatasetSummary(d.Id, d.Name, d.CreatedAt, classes.Values.Sum(), classes, d.GroupedAt, d.GroupCount, splits.GetValueOrDefault(d.Id));
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
    public async Task DeleteAsync(int datasetId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var dataset = await db.Datasets.SingleOrDefaultAsync(d => d.Id == datasetId, cancellationToken)
            ?? throw new ArgumentException($"No dataset {datasetId}.");
        var shas = await db.DatasetImages.Where(i => i.DatasetId == datasetId).Select(i => i.Sha256).Distinct().ToListAsync(cancellationToken);
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.Datasets.Remove(dataset);
            await db.SaveChangesAsync(cancellationToken);
            var stillUsed = (await db.DatasetImages.Where(i => shas.Contains(i.Sha256)).Select(i => i.Sha256).Distinct().ToListAsync(cancellationToken)).ToHashSet();
            var orphaned = shas.Where(s => !stillUsed.Contains(s)).ToList();
            await db.StoredImages.Where(s => orphaned.Contains(s.Sha256)).ExecuteDeleteAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            shas = orphaned;
        }
        foreach (var sha in shas)
        {
            foreach (var format in new[] { "jpeg", "png" }) File.Delete(store.ImagePath(sha, format));
            File.Delete(store.ThumbnailPath(sha));
        }
    }

    /// <summary>Removes stored files no row references (left by an import that failed part-way). Run at start-up, before any import.</summary>
    public async Task<int> SweepOrphanFilesAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var referenced = (await db.StoredImages.Select(s => s.Sha256).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        return store.Sweep(referenced);
    }
}
