using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using SixLabors.ImageSharp;
using WbcPortal.Storage;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>Every split is leak-checked, and <c>split SPLIT --check</c> checks one made before the check existed, through the real executable.</summary>
public class SplitLeakCheckCliTests
{
    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var process = PortalProcess.Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task A_random_split_of_copies_reports_its_suspect_pairs_and_an_unchecked_split_is_checked_on_demand()
    {
        using var data = new TempDirectory();
        using var src = new TempDirectory();
        var random = new Random(4);
        for (int o = 0; o < 6; o++)
        {
            using var original = LeakCheckerTests.Smear(seed: 300 + o);
            string cls = o < 3 ? "EOSINOPHIL" : "NEUTROPHIL";
            Directory.CreateDirectory(Path.Combine(src.Path, cls));
            for (int k = 0; k < 5; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                await copy.SaveAsPngAsync(Path.Combine(src.Path, cls, $"c{o}_{k}.png"), TestContext.Current.CancellationToken);
            }
        }
        var import = await RunAsync("import", src.Path, "--name", "copies", "--data-dir", data.Path);
        Assert.True(import.Code == 0, import.Stderr);

        var made = await RunAsync("split", "copies", "--strategy", "random", "--ratios", "0.6,0.2,0.2", "--json", "--data-dir", data.Path);
        Assert.True(made.Code == 0, made.Stderr);
        var root = JsonNode.Parse(made.Stdout)!;
        Assert.NotNull(root["crossSplitLeaks"]);
        Assert.Equal("LeakyByDesign", (string?)root["honesty"]!["status"]);
        Assert.Equal("leaky by design", (string?)root["honesty"]!["label"]);
        var check = root["leakCheck"]!;
        int suspects = (int)check["suspectPairs"]!;
        Assert.True(suspects > 0, made.Stdout);
        Assert.Equal(30, (int)check["imagesChecked"]!);
        Assert.StartsWith("polar-ncc-v1", (string?)check["method"]);
        var pair = check["pairs"]!.AsArray()[0]!;
        Assert.EndsWith(".png", (string?)pair["a"]);
        Assert.NotEqual((string?)pair["partA"], (string?)pair["partB"]);
        Assert.Contains("leak check", made.Stderr);

        // As a split made before the check existed: no leakCheck in its report.
        var options = new DbContextOptionsBuilder<WbcDbContext>().UseSqlite($"Data Source={Path.Combine(data.Path, "wbcportal.db")}").Options;
        await using (var db = new WbcDbContext(options))
        {
            var split = await db.Splits.SingleAsync(s => s.Name == "copies-random-s42", TestContext.Current.CancellationToken);
            var report = JsonNode.Parse(split.ReportJson)!.AsObject();
            report.Remove("leakCheck");
            split.ReportJson = report.ToJsonString();
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }
        var checkedAgain = await RunAsync("split", "copies-random-s42", "--check", "--json", "--data-dir", data.Path);
        Assert.True(checkedAgain.Code == 0, checkedAgain.Stderr);
        var again = JsonNode.Parse(checkedAgain.Stdout)!;
        Assert.Equal("copies-random-s42", (string?)again["split"]);
        Assert.Equal(suspects, (int)again["leakCheck"]!["suspectPairs"]!);

        var missing = await RunAsync("split", "no-such-split", "--check", "--data-dir", data.Path);
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("No split 'no-such-split'", missing.Stderr);
    }

    [Fact]
    public async Task A_grouped_split_records_its_margin_and_groups_found_by_an_older_grouper_or_at_another_margin_are_found_again()
    {
        using var data = new TempDirectory();
        using var src = new TempDirectory();
        var random = new Random(5);
        for (int o = 0; o < 6; o++)
        {
            using var original = LeakCheckerTests.Smear(seed: 400 + o);
            string cls = o < 3 ? "EOSINOPHIL" : "NEUTROPHIL";
            Directory.CreateDirectory(Path.Combine(src.Path, cls));
            for (int k = 0; k < 5; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                await copy.SaveAsPngAsync(Path.Combine(src.Path, cls, $"c{o}_{k}.png"), TestContext.Current.CancellationToken);
            }
        }
        Assert.Equal(0, (await RunAsync("import", src.Path, "--name", "copies", "--data-dir", data.Path)).Code);

        var standard = await RunAsync("split", "copies", "--margin", "standard", "--ratios", "0.6,0.2,0.2", "--json", "--data-dir", data.Path);
        Assert.True(standard.Code == 0, standard.Stderr);
        var grouping = JsonNode.Parse(standard.Stdout)!["grouping"]!;
        Assert.Equal("standard", (string?)grouping["margin"]);
        Assert.Equal(WbcPortal.Engine.Datasets.Grouping.SourceGrouper.Version, (string?)grouping["grouperVersion"]);
        Assert.Equal(["standard", "cautious"], grouping["cuts"]!.AsArray().Select(c => (string?)c!["margin"]));

        // As if grouped by an older grouper: the next split finds the groups again, at the margin it asks for.
        var options = new DbContextOptionsBuilder<WbcDbContext>().UseSqlite($"Data Source={Path.Combine(data.Path, "wbcportal.db")}").Options;
        await using (var db = new WbcDbContext(options))
        {
            await db.Datasets.ExecuteUpdateAsync(d => d.SetProperty(x => x.GrouperVersion, "0"), TestContext.Current.CancellationToken);
        }
        var cautious = await RunAsync("split", "copies", "--ratios", "0.6,0.2,0.2", "--seed", "3", "--json", "--data-dir", data.Path);
        Assert.True(cautious.Code == 0, cautious.Stderr);
        Assert.Equal("cautious", (string?)JsonNode.Parse(cautious.Stdout)!["grouping"]!["margin"]);
        Assert.Contains("grouping:", cautious.Stderr);
        await using (var db = new WbcDbContext(options))
        {
            var dataset = await db.Datasets.SingleAsync(TestContext.Current.CancellationToken);
            Assert.Equal(WbcPortal.Engine.Datasets.Grouping.SourceGrouper.Version, dataset.GrouperVersion);
            Assert.Equal("Cautious", dataset.GroupingMargin);
        }

        var wrong = await RunAsync("split", "copies", "--margin", "sideways", "--data-dir", data.Path);
        Assert.Equal(2, wrong.Code);
        Assert.Contains("unknown margin 'sideways'", wrong.Stderr);
    }
}
