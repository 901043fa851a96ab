using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Services.Datasets;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Datasets;

/// <summary>The dataset service over real SQLite and real files in a temporary data folder.</summary>
public sealed class DatasetServiceTests : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-ds");
    private readonly TempDirectory source = new("wbc-src");
    private ServiceProvider services = null!;
    private DatasetService Datasets => services.GetRequiredService<DatasetService>();

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path, new Dictionary<string, string?> { ["Import:CommitBatchSize"] = "20" }).BuildServiceProvider();
        await services.MigrateAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
        source.Dispose();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Import_stores_images_once_and_reports_duplicates_on_a_second_import()
    {
        ImportFixtures.ClassFolders(source.Path, ["EOS", "LYM"], 3);
        var first = await Datasets.ImportFolderAsync("cells", source.Path, cancellationToken: Ct);
        Assert.Equal(6, first.Images);
        Assert.Equal(new Dictionary<string, int> { ["EOS"] = 3, ["LYM"] = 3 }, first.Classes);

        ImportFixtures.Write(source.Path, "LYM/new.jpg", ImportFixtures.Jpeg(999));
        var second = await Datasets.ImportFolderAsync("cells", source.Path, cancellationToken: Ct);
        Assert.Equal(1, second.Images);
        Assert.Equal(6, second.Duplicates);
        Assert.All(second.Rejected, r => Assert.Equal("duplicate: the same file is already in this dataset", r.Message));

        var summary = await Datasets.GetAsync("cells", Ct);
        Assert.Equal(7, summary.Images);
        Assert.Equal(2, (await Datasets.GetImportsAsync(summary.Id, Ct)).Count);
        var page = await Datasets.GetGalleryAsync(summary.Id, "LYM", 0, 2, Ct);
        Assert.Equal(4, page.Total);
        Assert.Equal(2, page.Items.Count);
    }

    [Fact]
    public async Task The_same_image_in_two_datasets_is_stored_once_and_survives_deleting_one()
    {
        ImportFixtures.ClassFolders(source.Path, ["A", "B"], 2);
        await Datasets.ImportFolderAsync("one", source.Path, cancellationToken: Ct);
        await Datasets.ImportFolderAsync("two", source.Path, cancellationToken: Ct);
        var files = Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories);
        Assert.Equal(4, files.Length);

        await Datasets.DeleteAsync((await Datasets.GetAsync("one", Ct)).Id, Ct);
        Assert.All(files, f => Assert.True(File.Exists(f)));
        await Datasets.DeleteAsync((await Datasets.GetAsync("two", Ct)).Id, Ct);
        Assert.All(files, f => Assert.False(File.Exists(f)));
        Assert.Empty(await Datasets.ListAsync(Ct));
    }

    [Fact]
    public async Task An_import_stopped_part_way_keeps_its_finished_batches_and_a_rerun_continues()
    {
        // Batches of 20 (Import:CommitBatchSize, set for this class): 80 images are four commits.
        ImportFixtures.ClassFolders(source.Path, ["A", "B"], 40);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var progress = new SyncProgress(p => { if (p.Done >= 45) cts.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Datasets.ImportFolderAsync("partial", source.Path, progress, cts.Token));

        int kept;
        await using (var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct))
        {
            kept = await db.DatasetImages.CountAsync(Ct);
            Assert.True(kept is 40 or 60, $"whole batches are kept: {kept}");
            // Every committed row has its files in the store; nothing of the stopped batch is anywhere.
            var rows = await db.StoredImages.Select(s => new { s.Sha256, s.Format }).ToListAsync(Ct);
            Assert.Equal(kept, rows.Count);
            Assert.All(rows, r => Assert.True(File.Exists(Datasets.Store.ImagePath(r.Sha256, r.Format)) && File.Exists(Datasets.Store.ThumbnailPath(r.Sha256))));
            Assert.Equal(kept, Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories).Length);
            var import = await db.Imports.SingleAsync(Ct);
            Assert.Equal(kept, import.Accepted);
        }
        Assert.Empty(Directory.Exists(Datasets.Store.StagingRoot) ? Directory.GetFileSystemEntries(Datasets.Store.StagingRoot) : []);

        var again = await Datasets.ImportFolderAsync("partial", source.Path, cancellationToken: Ct);
        Assert.Equal(80 - kept, again.Images);
        Assert.Equal(kept, again.Duplicates);
        Assert.Equal(80, (await Datasets.GetAsync("partial", Ct)).Images);
    }

    [Fact]
    public async Task Staged_files_of_a_killed_import_are_promoted_when_committed_and_removed_otherwise()
    {
        ImportFixtures.ClassFolders(source.Path, ["A"], 3);
        var summary = await Datasets.ImportFolderAsync("cells", source.Path, cancellationToken: Ct);
        var committed = Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories).First();
        // As a kill between a batch's commit and its promotion leaves it: the committed file only in staging, beside an uncommitted one.
        string staged = Path.Combine(Datasets.Store.StagingRoot, "killed", Path.GetRelativePath(data.Path, committed));
        Directory.CreateDirectory(Path.GetDirectoryName(staged)!);
        File.Move(committed, staged);
        string stray = Path.Combine(Datasets.Store.StagingRoot, "killed", "images", "ff", new string('f', 64) + ".jpg");
        Directory.CreateDirectory(Path.GetDirectoryName(stray)!);
        File.WriteAllBytes(stray, [1, 2, 3]);
        string storedButUnreferenced = Path.Combine(data.Path, "images", "ee", new string('e', 64) + ".jpg");
        Directory.CreateDirectory(Path.GetDirectoryName(storedButUnreferenced)!);
        File.WriteAllBytes(storedButUnreferenced, [1, 2, 3]);

        var recovery = await Datasets.RecoverStagingAsync(Ct);

        Assert.Equal(1, recovery.Promoted);
        Assert.True(File.Exists(committed), "the committed image is back in the store");
        Assert.False(File.Exists(stray), "an uncommitted staged file is removed");
        Assert.True(File.Exists(storedButUnreferenced), "a file in the store is never swept, referenced or not");
        Assert.Equal(3, summary.Images);
    }

    [Fact]
    public async Task Bad_input_is_a_clear_error_and_nothing_is_stored()
    {
        var empty = Path.Combine(source.Path, "empty");
        Directory.CreateDirectory(empty);
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => Datasets.ImportFolderAsync("nothing", empty, cancellationToken: Ct));
        Assert.Equal("Nothing to import: no files were found.", ex.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => Datasets.ImportFolderAsync("  ", source.Path, cancellationToken: Ct));
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => Datasets.ImportFolderAsync("x", Path.Combine(source.Path, "missing"), cancellationToken: Ct));
        Assert.Empty(await Datasets.ListAsync(Ct));
    }

    [Fact]
    public async Task Files_that_are_all_rejected_create_no_dataset_and_say_why()
    {
        ImportFixtures.Write(source.Path, "EOS/notes.txt", "not an image"u8.ToArray());
        ImportFixtures.Write(source.Path, "EOS/cut.jpg", ImportFixtures.Jpeg(1)[..200]);
        ImportFixtures.Write(source.Path, "EOS/also.txt", "nor this"u8.ToArray());
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => Datasets.ImportFolderAsync("lying", source.Path, cancellationToken: Ct));
        Assert.StartsWith("Nothing was imported: none of the 3 files is a usable image (2 not an image; 1 truncated", ex.Message);
        Assert.EndsWith("No dataset was created.", ex.Message);
        Assert.Empty(await Datasets.ListAsync(Ct));
    }

    private sealed class SyncProgress(Action<ImportProgress> report) : IProgress<ImportProgress>
    {
        public void Report(ImportProgress value) => report(value);
    }
}
