using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Review;
using WbcPortal.Tests.Engine.Datasets;
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
        var random = new Random(8);
        async Task Write(Image<SixLabors.ImageSharp.PixelFormats.Rgb24> original, string cls, string name, int copies)
        {
            Directory.CreateDirectory(Path.Combine(source.Path, cls));
            for (int k = 0; k < copies; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                await copy.SaveAsPngAsync(Path.Combine(source.Path, cls, $"{name}_{k}.png"), ct);
            }
        }
        for (int o = 0; o < 8; o++)
        {
            using var original = LeakCheckerTests.Smear(seed: 600 + o);
            await Write(original, o < 4 ? "EOSINOPHIL" : "NEUTROPHIL", $"o{o}", 3);
        }
        // The cell of o0 (an eosinophil) photographed again, flipped, and filed as a neutrophil.
        using (var field = LeakCheckerTests.Smear(seed: 600))
        using (var again = field.Clone(c => c.Flip(FlipMode.Vertical)))
            await Write(again, "NEUTROPHIL", "x0", 3);

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
