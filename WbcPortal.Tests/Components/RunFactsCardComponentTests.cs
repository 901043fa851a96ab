using Bunit;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Services.Evaluation;

namespace WbcPortal.Tests.Components;

/// <summary>The run facts: one mean speed over both rounds only where the rounds are alike.</summary>
public class RunFactsCardComponentTests : PortalTestContext
{
    [Fact]
    public void A_round_on_cached_features_is_not_averaged_with_the_fine_tune()
    {
        var byRound = new Dictionary<int, double> { [1] = 42_912.1, [2] = 16.3 };
        var cached = Render<RunFactsCard>(p => p.Add(x => x.Facts, new RunFacts(1317, "cpu", 28_613.5, byRound, 2.244, Round1OnCachedFeatures: true)));
        Assert.Equal("by round:", cached.Find("[data-testid=mean-speed]").TextContent);
        Assert.DoesNotContain("over all epochs", cached.Markup);
        Assert.Contains("cached frozen features", cached.Markup);

        var alike = Render<RunFactsCard>(p => p.Add(x => x.Facts, new RunFacts(1317, "cpu", 20.5, new Dictionary<int, double> { [1] = 21, [2] = 20 }, 1.5, Round1OnCachedFeatures: false)));
        Assert.Contains("over all epochs", alike.Find("[data-testid=mean-speed]").TextContent);
    }
}
