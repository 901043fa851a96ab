using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Components.Layout;
using WbcPortal.Components.Shared;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

public class ShellComponentTests : PortalTestContext
{
    public ShellComponentTests()
    {
        // The navigation shows the Admin's pages (users, audit) to a signed-in Admin.
        var authorization = AddAuthorization();
        authorization.SetAuthorized("admin");
        authorization.SetRoles("Admin");
    }

    [Fact]
    public void The_navigation_has_a_link_to_every_area()
    {
        var nav = Render<NavMenu>();
        var hrefs = nav.FindAll("a").Select(a => a.GetAttribute("href")).ToList();
        foreach (var area in PortalAreas.All)
        {
            Assert.Contains(area.Href, hrefs);
        }
        Assert.Contains("admin/users", hrefs);
        Assert.Contains("audit", hrefs);
        Assert.Equal(new[] { "Datasets", "Explore", "Training", "Runs", "Review", "Models", "Classify", "Smears", "Storage" }, PortalAreas.All.Select(a => a.Title));
    }

    [Fact]
    public async Task The_status_area_shows_the_device_and_that_no_model_is_active()
    {
        await Services.MigrateAsync();
        var status = Render<StatusArea>();
        status.WaitForAssertion(() => Assert.Equal("CPU", status.Find("[data-testid=device]").TextContent.Trim()), TimeSpan.FromSeconds(30));
        Assert.Contains("No active model", status.Find("[data-testid=active-model]").TextContent);
    }

    [Fact]
    public async Task The_status_area_names_the_active_model()
    {
        await Services.MigrateAsync();
        var contexts = Services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync(TestContext.Current.CancellationToken))
        {
            db.Models.Add(new RegisteredModel { Name = "old", OnnxPath = "models/old.onnx", Labels = "a,b", IsActive = false, CreatedAt = DateTimeOffset.UtcNow });
            db.Models.Add(new RegisteredModel { Name = "grouped-r2", OnnxPath = "models/r2.onnx", Labels = "a,b", IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }
        var status = Render<StatusArea>();
        status.WaitForAssertion(() => Assert.Contains("Model: grouped-r2", status.Find("[data-testid=active-model]").TextContent), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void A_planned_area_says_which_issue_brings_it()
    {
        var planned = Render<PlannedArea>(p => p.Add(x => x.Issue, 3).Add(x => x.Planned, ["Upload images", "Re-split"]));
        Assert.Contains("issue #3", planned.Markup);
        Assert.Equal(2, planned.FindAll("li").Count);
    }
}
