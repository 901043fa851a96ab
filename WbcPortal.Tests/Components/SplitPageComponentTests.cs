using System.Text.Json;
using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using WbcPortal.Components.Pages.Splits;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>A split's own page: its honesty chip, originals and images per class and part, members, and suspect pairs side by side.</summary>
[Trait("Category", "Torch")]
public class SplitPageComponentTests : PortalTestContext
{
    public SplitPageComponentTests()
    {
        Services.AddJobsForTests(DataDirectory);
    }

    private static string Sha(int i) => i.ToString("x64", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A dataset of 12 images (EOSINOPHIL 1-6, NEUTROPHIL 7-12) and one split of it: 1-4 and 7-10 train, 5 and 11 val, 6 and 12 test.</summary>
    private async Task<int> AddSplitAsync(string strategy, LeakCheckReport? leakCheck, SuspectsKeptTogether? kept = null)
    {
        var contexts = Services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync();
        var dataset = db.Datasets.Add(new Dataset { Name = "cells", CreatedAt = DateTimeOffset.UtcNow }).Entity;
        await db.SaveChangesAsync();
        var images = new List<DatasetImage>();
        for (int i = 1; i <= 12; i++)
        {
            string cls = i <= 6 ? "EOSINOPHIL" : "NEUTROPHIL";
            if (await db.StoredImages.FindAsync(Sha(i)) is null) db.StoredImages.Add(new StoredImage { Sha256 = Sha(i), Format = "jpeg", Width = 320, Height = 240, Bytes = 100 });
            images.Add(db.DatasetImages.Add(new DatasetImage { DatasetId = dataset.Id, ClassName = cls, RelativePath = $"{cls}/img{i:00}.jpeg", Sha256 = Sha(i), SourceGroup = i }).Entity);
        }
        await db.SaveChangesAsync();
        string PartOf(int i) => ((i - 1) % 6) switch { < 4 => SplitParts.Train, 4 => SplitParts.Val, _ => SplitParts.Test };
        var counts = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, int>)new Dictionary<string, int>
        {
            ["EOSINOPHIL"] = p == SplitParts.Train ? 4 : 1,
            ["NEUTROPHIL"] = p == SplitParts.Train ? 4 : 1,
        });
        var originals = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, int>)new Dictionary<string, int>
        {
            ["EOSINOPHIL"] = p == SplitParts.Train ? 17 : 3,
            ["NEUTROPHIL"] = p == SplitParts.Train ? 40 : 8,
        });
        var effective = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, double>)new Dictionary<string, double>
        {
            ["EOSINOPHIL"] = p == SplitParts.Train ? 15.5 : 2.4,
            ["NEUTROPHIL"] = p == SplitParts.Train ? 38 : 7.5,
        });
        var report = new SplitReport(SplitStrategies.Parse(strategy), "0.7,0.15,0.15", 42, counts, 12, SplitParts.All.ToDictionary(p => p, _ => 4), 0, 0, strategy == "random", 0.01,
            strategy == "random" ? null : originals, strategy == "random" ? null : effective)
        {
            LeakCheck = leakCheck is null ? null : leakCheck with { Pairs = leakCheck.Pairs.Select(p => p with { ImageA = images[p.ImageA - 1].Id, ImageB = images[p.ImageB - 1].Id }).ToList() },
            SuspectsKeptTogether = kept,
        };
        var split = db.Splits.Add(new Split
        {
            DatasetId = dataset.Id, Name = $"cells-{strategy}", Strategy = SplitStrategies.Parse(strategy), Ratios = "0.7,0.15,0.15", Seed = 42, CreatedAt = DateTimeOffset.UtcNow,
            ReportJson = JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)),
            Members = images.Select((im, k) => new SplitMember { DatasetImageId = im.Id, Part = SplitParts.Parse(PartOf(k + 1)) }).ToList(),
        }).Entity;
        await db.SaveChangesAsync();
        return split.Id;
    }

    private static LeakCheckReport Check(params SuspectPair[] pairs) =>
        new(LeakCheckerMethod, 0.25, 12, pairs.Length, pairs, 1.5) { HeldOut = 4, HeldOutFlagged = pairs.Length };

    private const string LeakCheckerMethod = "polar-ncc-v1: test";

    [Fact]
    public async Task Shows_the_suspect_pairs_side_by_side_the_originals_table_and_the_members()
    {
        await Services.MigrateAsync();
        int id = await AddSplitAsync("grouped", Check(new SuspectPair(2, SplitParts.Train, 5, SplitParts.Val, 0.081), new SuspectPair(8, SplitParts.Train, 12, SplitParts.Test, 0.12)));
        Render<MudPopoverProvider>();
        var page = Render<SplitPage>(p => p.Add(c => c.Id, id));
        page.WaitForAssertion(() => Assert.Equal("cells-grouped", page.Find("[data-testid=page-title]").TextContent.Trim()));

        var chip = page.Find("[data-testid=split-honesty]");
        Assert.Equal("SuspectPairs", chip.GetAttribute("data-status"));
        Assert.Contains("2 suspect pair(s)", chip.TextContent);

        var originals = page.Find("[data-testid=originals-table]");
        Assert.Contains("validation", originals.TextContent);
        Assert.Equal("3 (≈2.4)", originals.QuerySelector("td[data-part=test][data-class=EOSINOPHIL]")!.TextContent.Trim());
        Assert.Contains("wbc-thin", originals.QuerySelector("td[data-part=test][data-class=EOSINOPHIL]")!.ClassName);
        Assert.Equal("40 (≈38.0)", originals.QuerySelector("td[data-part=train][data-class=NEUTROPHIL]")!.TextContent.Trim());
        Assert.Equal("4", page.Find("[data-testid=images-table] td[data-part=train][data-class=EOSINOPHIL]").TextContent.Trim());

        var pairs = page.FindAll("[data-testid=suspect-pair]");
        Assert.Equal(2, pairs.Count);
        var first = pairs[0];
        Assert.Equal(2, first.QuerySelectorAll("img").Length);
        Assert.Contains($"api/images/{Sha(2)}/thumb", first.InnerHtml);
        Assert.Contains($"api/images/{Sha(5)}/thumb", first.InnerHtml);
        Assert.Contains("train", first.TextContent);
        Assert.Contains("validation", first.TextContent);
        Assert.Contains("EOSINOPHIL", first.TextContent);
        Assert.Contains("0.081", first.QuerySelector("[data-testid=pair-distance]")!.TextContent);

        // Members: train first, 8 images; filtered to one class, 4.
        page.WaitForAssertion(() => Assert.Equal(8, page.FindAll("[data-testid=member-thumb]").Count));
        await page.InvokeAsync(() => page.FindComponent<MudSelect<string>>().Instance.ValueChanged.InvokeAsync("NEUTROPHIL"));
        page.WaitForAssertion(() => Assert.Equal(4, page.FindAll("[data-testid=member-thumb]").Count));
        Assert.All(page.FindAll("[data-testid=member-thumb]"), a => Assert.Contains("NEUTROPHIL", a.GetAttribute("title")));
    }

    [Fact]
    public async Task A_split_made_before_the_check_says_not_leak_checked_and_offers_to_run_it()
    {
        await Services.MigrateAsync();
        int id = await AddSplitAsync("grouped", null);
        Render<MudPopoverProvider>();
        var page = Render<SplitPage>(p => p.Add(c => c.Id, id));
        page.WaitForAssertion(() => Assert.Equal("Unchecked", page.Find("[data-testid=split-honesty]").GetAttribute("data-status")));
        Assert.Contains("not leak-checked", page.Find("[data-testid=split-honesty]").TextContent);
        Assert.Contains("--check", page.Find("[data-testid=leak-check-missing]").TextContent);
        Assert.Equal("Run leak check", page.Find("[data-testid=run-leak-check]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=suspect-pair]"));
    }

    [Fact]
    public async Task Leak_free_only_when_groups_and_check_agree_and_random_is_leaky_by_design()
    {
        await Services.MigrateAsync();
        int clean = await AddSplitAsync("grouped", Check());
        Render<MudPopoverProvider>();
        var page = Render<SplitPage>(p => p.Add(c => c.Id, clean));
        page.WaitForAssertion(() => Assert.Equal("LeakFree", page.Find("[data-testid=split-honesty]").GetAttribute("data-status")));
        Assert.Contains("leak-free", page.Find("[data-testid=split-honesty]").TextContent);
        Assert.Contains("0 suspect pair(s)", page.Find("[data-testid=leak-check-summary]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=suspects-kept-together]"));

        // Leak-free after keeping the first draw's suspect pairs together: the page says what it took.
        int kept = await AddSplitKeptAsync();
        var keptPage = Render<SplitPage>(p => p.Add(c => c.Id, kept));
        keptPage.WaitForAssertion(() => Assert.Equal("LeakFree", keptPage.Find("[data-testid=split-honesty]").GetAttribute("data-status")));
        var line = keptPage.Find("[data-testid=suspects-kept-together]").TextContent;
        Assert.Contains("232 suspect pair(s)", line);
        Assert.Contains("3 join(s)", line);
        Assert.Contains("2 times", line);

        int random = await AddSplitRandomAsync();
        var randomPage = Render<SplitPage>(p => p.Add(c => c.Id, random));
        randomPage.WaitForAssertion(() => Assert.Equal("LeakyByDesign", randomPage.Find("[data-testid=split-honesty]").GetAttribute("data-status")));
        Assert.NotNull(randomPage.Find("[data-testid=originals-missing]"));

        var missing = Render<SplitPage>(p => p.Add(c => c.Id, 9999));
        missing.WaitForAssertion(() => Assert.NotNull(missing.Find("[data-testid=split-not-found]")));
    }

    private async Task<int> AddSplitKeptAsync()
    {
        var contexts = Services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync())
        {
            // Another dataset and split under new names: AddSplitAsync names them "cells" and "cells-grouped".
            await db.Splits.Where(x => x.Name == "cells-grouped").ExecuteUpdateAsync(x => x.SetProperty(v => v.Name, "cells-grouped-first"));
            await db.Datasets.Where(d => d.Name == "cells").ExecuteUpdateAsync(x => x.SetProperty(d => d.Name, "cells-first"));
        }
        return await AddSplitAsync("grouped", Check(), new SuspectsKeptTogether(2, 232, 3));
    }

    private async Task<int> AddSplitRandomAsync()
    {
        // A second dataset under another name: AddSplitAsync names its dataset "cells".
        var contexts = Services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync())
        {
            await db.Datasets.Where(d => d.Name == "cells").ExecuteUpdateAsync(s => s.SetProperty(d => d.Name, "cells-old"));
        }
        return await AddSplitAsync("random", Check(new SuspectPair(1, SplitParts.Train, 6, SplitParts.Test, 0.01)));
    }
}

/// <summary>The Training page's line under the chosen split.</summary>
[Trait("Category", "Torch")]
public class TrainingChoicesOriginalsTests
{
    [Fact]
    public void The_originals_line_sums_each_part_and_names_the_thinnest()
    {
        var parts = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, int>)new Dictionary<string, int> { ["A"] = 10, ["B"] = 10 });
        var originals = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, int>)new Dictionary<string, int> { ["A"] = p == SplitParts.Train ? 50 : 5, ["B"] = 2 });
        var effective = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, double>)new Dictionary<string, double> { ["A"] = 4, ["B"] = p == SplitParts.Test ? 1.5 : 2 });
        var report = new SplitReport(SplitStrategy.Grouped, "0.7,0.15,0.15", 1, parts, 10, SplitParts.All.ToDictionary(p => p, _ => 3), 0, 0, false, 0, originals, effective);
        var split = new WbcPortal.Services.Splits.SplitSummary(1, "s", 1, "d", DateTimeOffset.UtcNow, report);
        Assert.Equal("originals: train 52 · validation 7 · test 7 · fewest: b in test, ≈1.5", WbcPortal.Components.Pages.Training.TrainingChoices.OriginalsLine(split));
        var random = split with { Report = report with { Strategy = SplitStrategy.Random, OriginalsPerPart = null, EffectiveOriginalsPerPart = null } };
        Assert.Contains("random", WbcPortal.Components.Pages.Training.TrainingChoices.OriginalsLine(random));
    }
}
