using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Evaluation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 24, smaller finding 3: a symbolic link in a folder the portal reads (an import from a server folder, a Classify
/// server folder, an evaluation folder) is listed among the refused files as "a symbolic link: not followed", never
/// followed and never dropped without a word. Each folder holds a real image beside a link to an image outside, a link to a
/// folder of images outside, and a link to nothing.
/// </summary>
public sealed class SymbolicLinkFolderTests : IAsyncLifetime
{
    private const string Reason = "a symbolic link: not followed";
    private readonly TempDirectory data = new("wbc-links-data");
    private readonly TempDirectory root = new("wbc-links");
    private ServiceProvider services = null!;

    private string Folder => Path.Combine(root.Path, "folder");
    private string Outside => Path.Combine(root.Path, "outside");

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        ImportFixtures.Write(Outside, "secret.jpg", ImportFixtures.Jpeg(90));
        ImportFixtures.Write(Outside, "more/a.jpg", ImportFixtures.Jpeg(91));
        ImportFixtures.Write(Outside, "more/b.jpg", ImportFixtures.Jpeg(92));
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
        root.Dispose();
    }

    /// <summary>A class folder with one image and three links: to a file outside, to a folder outside, to nothing.</summary>
    private void ClassFolderWithLinks(string cls, int seed)
    {
        string dir = Path.Combine(Folder, cls);
        ImportFixtures.Write(dir, "real.jpg", ImportFixtures.Jpeg(seed));
        File.CreateSymbolicLink(Path.Combine(dir, "linked.jpg"), Path.Combine(Outside, "secret.jpg"));
        Directory.CreateSymbolicLink(Path.Combine(dir, "linked-folder"), Path.Combine(Outside, "more"));
        File.CreateSymbolicLink(Path.Combine(dir, "dangling.jpg"), Path.Combine(Outside, "gone.jpg"));
    }

    [Fact]
    public async Task An_import_from_a_folder_lists_each_link_as_not_followed_and_imports_only_what_is_in_it()
    {
        ClassFolderWithLinks("EOSINOPHIL", 1);
        var summary = await services.GetRequiredService<DatasetService>().ImportFolderAsync("cells", Folder, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(1, summary.Images);
        Assert.Equal(
            [("EOSINOPHIL/dangling.jpg", ImportReason.Ignored, Reason), ("EOSINOPHIL/linked-folder", ImportReason.Ignored, Reason), ("EOSINOPHIL/linked.jpg", ImportReason.Ignored, Reason)],
            summary.Rejected.Select(r => (r.RelativePath, r.Reason, r.Message)).OrderBy(r => r.RelativePath, StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_classify_server_folder_lists_each_link_as_not_followed()
    {
        ClassFolderWithLinks("EOSINOPHIL", 1);
        var uploads = services.GetRequiredService<ClassifyUploads>();
        var collector = uploads.NewCollector();
        await uploads.AddFolderAsync(collector, Folder, Folder, TestContext.Current.CancellationToken);

        Assert.Equal(["EOSINOPHIL/real.jpg"], collector.Inputs.Select(i => i.File));
        Assert.Equal(
            [new SkippedFile("EOSINOPHIL/dangling.jpg", Reason), new SkippedFile("EOSINOPHIL/linked-folder", Reason), new SkippedFile("EOSINOPHIL/linked.jpg", Reason)],
            collector.Skipped.OrderBy(s => s.File, StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_evaluation_folder_lists_links_to_files_and_to_class_folders_as_not_followed()
    {
        ClassFolderWithLinks("EOSINOPHIL", 1);
        ImportFixtures.Write(Path.Combine(Folder, "LYMPHOCYTE"), "real.jpg", ImportFixtures.Jpeg(2));
        // A whole class folder that is a link (to images outside): listed, not evaluated.
        Directory.CreateSymbolicLink(Path.Combine(Folder, "NEUTROPHIL"), Path.Combine(Outside, "more"));

        var images = await services.GetRequiredService<EvaluationService>().ResolveAsync(["EOSINOPHIL", "LYMPHOCYTE", "NEUTROPHIL"],
            new EvaluationTarget.Folder(Folder), TestContext.Current.CancellationToken);

        Assert.Equal(["EOSINOPHIL/real.jpg", "LYMPHOCYTE/real.jpg"], images.Images.Select(i => i.Key).Order(StringComparer.Ordinal));
        Assert.Equal(
            [("EOSINOPHIL/dangling.jpg", Reason), ("EOSINOPHIL/linked-folder", Reason), ("EOSINOPHIL/linked.jpg", Reason), ("NEUTROPHIL", Reason)],
            images.Rejected.OrderBy(r => r.File, StringComparer.Ordinal));
    }
}
