using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Review;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>The cheap label-issue search over real services: every image ranked, and one cell filed under two classes found.</summary>
public sealed class LabelIssueSearchTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-issues-data");
    private readonly TempDirectory source = new("wbc-issues-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    [Fact]
    public async Task The_same_cell_under_two_class_folders_is_listed_and_every_image_is_ranked()
    {
        var ct = TestContext.Current.CancellationToken;
        await SameCellFixture.WriteAsync(source.Path, originals: 8, copies: 3, seed: 600, ct);

        await using var services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
        await services.GetRequiredService<DatasetService>().ImportFolderAsync("cells", source.Path, cancellationToken: ct);
        var search = services.GetRequiredService<LabelIssueService>();

        var summary = await search.RunAsync("cells", folds: 3, seed: 1, cancellationToken: ct);
        var (_, result) = (await search.GetAsync(summary.Id, ct))!.Value;

        Assert.Equal(27, result.Report.Images.Count);
        Assert.Equal(27, result.Report.Images.Select(i => i.Id).Distinct().Count());
        var pair = Assert.Single(result.CrossClass, c => (c.ClassA, c.ClassB) is ("EOSINOPHIL", "NEUTROPHIL") or ("NEUTROPHIL", "EOSINOPHIL"));
        Assert.True(pair.Pairs >= 3, $"{pair.Pairs} look-alike pairs");
        Assert.True(result.CrossClassSeconds > 0);
        await Assert.ThrowsAsync<ArgumentException>(() => search.RunAsync("no-such-dataset", cancellationToken: ct));
    }
}
