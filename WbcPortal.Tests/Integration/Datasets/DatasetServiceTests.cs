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
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
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
    public async Task An_import_stopped_part_way_leaves_no_rows_and_its_files_are_swept()
    {
        ImportFixtures.ClassFolders(source.Path, ["A", "B"], 40);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var progress = new SyncProgress(p => { if (p.Done >= 10) cts.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Datasets.ImportFolderAsync("partial", source.Path, progress, cts.Token));

        Assert.Empty(await Datasets.ListAsync(Ct));
        await using (var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct))
        {
            Assert.Equal(0, await db.StoredImages.CountAsync(Ct));
            Assert.Equal(0, await db.DatasetImages.CountAsync(Ct));
        }
        int swept = await Datasets.SweepOrphanFilesAsync(Ct);
        Assert.True(swept > 0, "files written before the stop should be swept");
        Assert.Empty(Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories));

        var again = await Datasets.ImportFolderAsync("partial", source.Path, cancellationToken: Ct);
        Assert.Equal(80, again.Images);
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

    private sealed class SyncProgress(Action<ImportProgress> report) : IProgress<ImportProgress>
    {
        public void Report(ImportProgress value) => report(value);
    }
}
