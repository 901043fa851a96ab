using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Server.ProtectedBrowserStorage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Components.Pages.Review;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>The review page over a real database: the queue by original, the reviewer asked once, decisions by key, undo.</summary>
public class ReviewPageComponentTests : PortalTestContext
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ReviewPageComponentTests()
    {
        Services.AddDataProtection().UseEphemeralDataProtectionProvider();
        Services.AddScoped<ProtectedLocalStorage>();
        Services.AddJobsForTests(DataDirectory); // the page follows a run's nearest-image index job on the board
    }

    [Fact]
    public async Task The_reviewer_walks_the_mistakes_with_the_keyboard_decides_and_undoes()
    {
        await Services.MigrateAsync();
        var seed = await ReviewSeed.WriteAsync(Services);
        Services.GetRequiredService<NavigationManager>().NavigateTo($"review?evaluation={seed.EvaluationId}");
        var page = Render<ReviewPage>();

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=review-tile]").Count));
        Assert.Contains("18 images from 5 originals", page.Find("[data-testid=review-summary]").TextContent);
        Assert.Contains("3 originals with mistakes (7 images)", page.Find("[data-testid=review-summary]").TextContent);
        Assert.Equal(["g1:0", "g4:1", "g3:3"], page.FindAll("[data-testid=review-tile]").Select(t => t.GetAttribute("data-tile")));
        Assert.Contains("EOSINOPHIL → NEUTROPHIL (4 img · 1 orig.)", page.FindAll("[data-testid=filter-pair]")[0].TextContent);
        Assert.Equal("true", page.Find("[data-tile='g1:0']").GetAttribute("data-selected"));
        Assert.Equal(4, page.FindAll("[data-testid=review-copy]").Count);

        // No reviewer yet: a key press explains instead of deciding.
        page.Find("[data-testid=review-grid]").KeyDown("4");
        page.WaitForAssertion(() => Assert.Contains("Say who you are", page.Find("[data-testid=review-error]").TextContent));
        page.Find("input[data-testid=reviewer-name]").Input("Ana Lab");
        page.Find("[data-testid=reviewer-save]").Click();
        page.WaitForAssertion(() => Assert.Contains("Ana Lab", page.Find("[data-testid=reviewer]").TextContent));

        // 4 = NEUTROPHIL: the whole original g1 (6 images in the dataset, 4 evaluated) is relabelled and the walk moves on.
        page.Find("[data-testid=review-grid]").KeyDown("4");
        page.WaitForAssertion(() => Assert.Contains("EOSINOPHIL → NEUTROPHIL on 6 images (the whole original)", page.Find("[data-testid=review-done]").TextContent));
        Assert.Equal("EOSINOPHIL → NEUTROPHIL", page.Find("[data-tile='g1:0']").GetAttribute("data-decided"));
        Assert.Equal("true", page.Find("[data-tile='g4:1']").GetAttribute("data-selected"));

        // Next tile, then x on one chosen copy of g3 only.
        page.Find("[data-testid=review-grid]").KeyDown("ArrowRight");
        page.WaitForAssertion(() => Assert.Equal("true", page.Find("[data-tile='g3:3']").GetAttribute("data-selected")));
        page.FindAll("[data-testid=review-copy]")[0].Click();
        page.WaitForAssertion(() => Assert.Contains("this image only", page.Find("[data-testid=review-scope]").TextContent));
        page.Find("[data-testid=review-grid]").KeyDown("x");
        page.WaitForAssertion(() => Assert.Contains("excluded on 1 image", page.Find("[data-testid=review-done]").TextContent));
        Assert.Contains("(1 of 5)", page.Find("[data-tile='g3:3'] [data-testid=tile-decision]").TextContent);

        // u takes back the latest decision (the exclusion); the relabel stays.
        page.Find("[data-testid=review-grid]").KeyDown("u");
        page.WaitForAssertion(() => Assert.Contains("Undone: excluded", page.Find("[data-testid=review-done]").TextContent));
        Assert.Equal("", page.Find("[data-tile='g3:3']").GetAttribute("data-decided"));

        await using var db = await Services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        var stored = await db.ReviewDecisions.OrderBy(d => d.Id).ToListAsync(Ct);
        Assert.Equal(2, stored.Count);
        Assert.Equal(("Ana Lab", 6, (DateTimeOffset?)null), (stored[0].Reviewer, stored[0].Images, stored[0].UndoneAt));
        Assert.NotNull(stored[1].UndoneAt);
    }

    [Fact]
    public async Task A_pair_chip_and_the_undecided_switch_narrow_the_queue_and_stay_in_the_address()
    {
        await Services.MigrateAsync();
        var seed = await ReviewSeed.WriteAsync(Services);
        var navigation = Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo($"review?evaluation={seed.EvaluationId}&filter=pair&pair=1-2");
        var page = Render<ReviewPage>();
        page.WaitForAssertion(() => Assert.Equal(["g4:1"], page.FindAll("[data-testid=review-tile]").Select(t => t.GetAttribute("data-tile"))));

        page.Find("[data-testid=filter-low]").Click();
        page.WaitForAssertion(() => Assert.Contains("filter=low", navigation.Uri));
        Assert.DoesNotContain("pair=", navigation.Uri);
    }

    [Fact]
    public async Task Without_evaluations_the_page_says_how_to_get_one()
    {
        await Services.MigrateAsync();
        var page = Render<ReviewPage>();
        page.WaitForAssertion(() => Assert.Contains("Nothing to review yet", page.Find("[data-testid=review-empty]").TextContent));
    }
}
