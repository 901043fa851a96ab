using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Components.Pages.Runs;
using WbcPortal.Tests.Integration.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

public class CompareComponentTests : PortalTestContext
{
    /// <summary>Generous: with the browser tests beside it on two cores, the renderer can wait seconds for a thread.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private async Task<(int A, int B)> SeedAsync()
    {
        await Services.MigrateAsync();
        int a = await RunSeeds.AddRunAsync(Services, "run-a", RunComparisonTests.ConfigA, quality: 0.7, margin: 2, storePredictions: true);
        int b = await RunSeeds.AddRunAsync(Services, "run-b", RunComparisonTests.ConfigB, quality: 0.8, margin: 1.4, seconds: 300, storePredictions: true);
        return (a, b);
    }

    private IRenderedComponent<ComparePage> Open(string address)
    {
        Render<MudBlazor.MudPopoverProvider>();
        Services.GetRequiredService<NavigationManager>().NavigateTo(address);
        return Render<ComparePage>();
    }

    [Fact]
    public async Task Two_runs_show_their_figures_differences_curves_and_configuration_differences()
    {
        var (a, b) = await SeedAsync();
        var page = Open($"runs/compare?ids={a},{b}");

        await page.WaitForAssertionAsync(() => Assert.NotNull(page.Find("[data-testid=figures-table]")), Patience);
        var columns = page.FindAll("[data-testid=run-column]");
        Assert.Equal(2, columns.Count);
        Assert.Contains("(baseline)", columns[0].TextContent);
        Assert.Contains("run-b", columns[1].TextContent);

        var accuracy = page.Find("[data-testid=figure-row][data-key='model.accuracy']");
        var cells = accuracy.QuerySelectorAll("td.wbc-figure");
        Assert.Contains("70.0 %", cells[0].TextContent);
        Assert.Empty(cells[0].QuerySelectorAll("[data-testid=delta]"));
        var delta = cells[1].QuerySelector("[data-testid=delta]")!;
        Assert.Equal("+10.0 pt", delta.TextContent.Trim());
        Assert.Contains("wbc-better", delta.ClassList);
        // the verdict in words beside the colour, with the difference's interval and how it was measured on hover
        Assert.Equal("gain beyond noise", cells[1].QuerySelector("[data-testid=verdict]")!.TextContent.Trim());
        Assert.Contains("paired by original", delta.GetAttribute("title"));
        // one training time each: the difference is said in words, not coloured and not read as a sum
        var seconds = page.Find("[data-testid=figure-row][data-key='seconds']");
        Assert.Equal("3 min 00 s longer", seconds.QuerySelector("[data-testid=delta]")!.TextContent.Trim());
        Assert.Contains("wbc-same", seconds.QuerySelector("[data-testid=delta]")!.ClassList);
        Assert.Equal("no noise estimate", seconds.QuerySelector("[data-testid=verdict]")!.TextContent.Trim());
        Assert.Equal(2, page.FindAll("[data-testid=figure-row][data-key^='class.'][data-key$='.recall']").Count);

        Assert.NotNull(page.Find("[data-testid=accuracy-chart]"));
        Assert.NotNull(page.Find("[data-testid=loss-chart]"));

        // the differing keys only, until the switch shows them all
        var rows = page.FindAll("[data-testid=config-row]");
        Assert.Equal(6, rows.Count);
        Assert.All(rows, r => Assert.Equal("true", r.GetAttribute("data-differs")));
        Assert.Contains("6 of", page.Find("[data-testid=config-summary]").TextContent);
        page.Find("input[data-testid=show-all-keys]").Change(true);
        var navigation = Services.GetRequiredService<NavigationManager>();
        await page.WaitForAssertionAsync(() => Assert.EndsWith($"runs/compare?ids={a},{b}&all=true", navigation.Uri), Patience);
        await page.WaitForAssertionAsync(() => Assert.True(page.FindAll("[data-testid=config-row]").Count > 20), Patience);
        Assert.Contains(page.FindAll("[data-testid=config-row]"), r => r.GetAttribute("data-differs") == "false");
    }

    [Fact]
    public async Task A_chip_makes_its_run_the_baseline_in_the_address()
    {
        var (a, b) = await SeedAsync();
        var page = Open($"runs/compare?ids={a},{b}");
        await page.WaitForAssertionAsync(() => Assert.NotNull(page.Find("[data-testid=run-chip]")), Patience);

        page.Find("[data-testid=run-chip]").Click();

        await page.WaitForAssertionAsync(() => Assert.EndsWith($"runs/compare?ids={b},{a}", Services.GetRequiredService<NavigationManager>().Uri), Patience);
        await page.WaitForAssertionAsync(() => Assert.Contains("run-b", page.Find("[data-testid=baseline-chip]").TextContent), Patience);
        var delta = page.Find("[data-testid=figure-row][data-key='model.accuracy'] [data-testid=delta]");
        Assert.Equal("−10.0 pt", delta.TextContent.Trim());
        Assert.Contains("wbc-worse", delta.ClassList);
    }

    [Fact]
    public async Task Without_runs_the_page_says_what_comparing_needs()
    {
        await Services.MigrateAsync();
        var page = Open("runs/compare");
        await page.WaitForAssertionAsync(() => Assert.Contains("two finished runs", page.Find("[data-testid=compare-empty]").TextContent), Patience);
        Assert.Empty(page.FindAll("[data-testid=figures-table]"));
    }

    [Fact]
    public async Task One_run_an_unknown_id_and_a_stray_word_each_get_a_clear_message()
    {
        var (a, _) = await SeedAsync();
        var page = Open($"runs/compare?ids={a},999,abc");

        await page.WaitForAssertionAsync(() => Assert.Contains("run-a", page.Find("[data-testid=compare-one]").TextContent), Patience);
        Assert.Contains("no run 999", page.Find("[data-testid=compare-missing]").TextContent);
        Assert.Contains("'abc' is not a run id", page.Find("[data-testid=compare-invalid]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=figures-table]"));
    }

    [Fact]
    public async Task No_pick_with_runs_available_asks_for_two()
    {
        await SeedAsync();
        var page = Open("runs/compare");
        await page.WaitForAssertionAsync(() => Assert.Contains("Pick two or more runs", page.Find("[data-testid=compare-empty]").TextContent), Patience);
    }
}
