using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Components.Pages;
using WbcPortal.Services.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

public class ExploreComponentTests : PortalTestContext
{
    /// <summary>The measurement is a job: the board and its workers, as the portal runs them.</summary>
    public ExploreComponentTests() => Services.AddJobsForTests(DataDirectory);

    /// <summary>Generous: with the browser tests beside it on two cores, the renderer can wait seconds for a thread.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private async Task<int> ImportAsync()
    {
        await Services.MigrateAsync();
        using var folder = new TempDirectory("wbc-explore");
        int seed = 0;
        foreach (var cls in new[] { "EOSINOPHIL", "LYMPHOCYTE" })
        {
            var dir = Directory.CreateDirectory(Path.Combine(folder.Path, cls)).FullName;
            for (int i = 0; i < 3; i++)
            {
                using var smear = TestImages.Smear(96, 72, seed: ++seed);
                await smear.SaveAsPngAsync(Path.Combine(dir, $"{i}.png"), TestContext.Current.CancellationToken);
            }
        }
        var summary = await Services.GetRequiredService<DatasetService>().ImportFolderAsync("small", folder.Path, cancellationToken: TestContext.Current.CancellationToken);
        return summary.DatasetId;
    }

    [Fact]
    public async Task Without_datasets_the_page_says_where_to_import_one()
    {
        await Services.MigrateAsync();
        Render<MudBlazor.MudPopoverProvider>();
        var page = Render<Explore>();
        await page.WaitForAssertionAsync(() => Assert.NotNull(page.Find("[data-testid=no-datasets]")), Patience);
        Assert.Equal("Explore", page.Find("[data-testid=page-title]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=samples]"));
    }

    [Fact]
    public async Task A_dataset_shows_its_samples_in_grayscale_and_its_measures()
    {
        int id = await ImportAsync();
        await using var running = await Services.StartJobsAsync(TestContext.Current.CancellationToken);
        Render<MudBlazor.MudPopoverProvider>();
        var navigation = Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo($"explore?dataset={id}&gray=true&levels=190,120");
        var page = Render<Explore>();

        await page.WaitForAssertionAsync(() => Assert.Equal(2, page.FindAll("[data-testid=sample-class]").Count), Patience);
        var images = page.FindAll("[data-testid=sample-image]");
        Assert.Equal(6, images.Count);
        Assert.All(images, img => Assert.Contains("/view?mode=gray", img.GetAttribute("src")));
        Assert.Equal(2 * Explore.MasksPerClass * 2, page.FindAll("[data-testid=mask-image]").Count);
        Assert.Contains(page.FindAll("[data-testid=mask-image]"), img => img.GetAttribute("src")!.EndsWith("level=120", StringComparison.Ordinal));

        await page.WaitForAssertionAsync(() => Assert.Equal(2, page.FindAll("[data-testid=border-table] tbody tr").Count), Patience);
        var header = page.Find("[data-testid=threshold-table] thead").TextContent;
        Assert.Contains("< 190", header);
        Assert.Contains("< 120", header);
        Assert.NotNull(page.Find("[data-testid=histogram-chart]"));

        // the address carries the state: Shuffle draws another seed, the grayscale switch drops back to colour
        // (bUnit dispatches an event on the renderer's thread: while a background load re-renders the page, the
        // handler runs a moment later, so wait for the address instead of reading it at once)
        page.Find("[data-testid=shuffle]").Click();
        await page.WaitForAssertionAsync(() => Assert.Matches("seed=[0-9]+", navigation.Uri), Patience);
        page.Find("input[data-testid=gray-toggle]").Change(false);
        await page.WaitForAssertionAsync(() => Assert.DoesNotContain("gray=", navigation.Uri), Patience);
        await page.WaitForAssertionAsync(() => Assert.All(page.FindAll("[data-testid=sample-image]"), img => Assert.EndsWith("/thumb", img.GetAttribute("src"))), Patience);
    }

    [Theory]
    [InlineData(null, new[] { 200, 180, 150 })]
    [InlineData("120", new[] { 120 })]
    [InlineData("10, 20,30,40", new[] { 10, 20, 30, 40 })]
    [InlineData("1,2,3,4,5", new[] { 200, 180, 150 })]
    [InlineData("300", new[] { 200, 180, 150 })]
    [InlineData("abc", new[] { 200, 180, 150 })]
    public void Levels_come_from_the_address_or_default_to_the_studys(string? text, int[] expected) =>
        Assert.Equal(expected, Explore.ParseLevels(text));
}
