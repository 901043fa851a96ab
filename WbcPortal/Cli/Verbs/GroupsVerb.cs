using System.CommandLine;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Grouping;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>groups DATASET</c>: which images are augmented copies of the same original.</summary>
public sealed class GroupsVerb : ICliVerb
{
    private readonly Argument<string> dataset = new("DATASET") { Description = "Dataset id or name" };
    private readonly Option<bool> recompute = new("--recompute") { Description = "Find the groups again even if they are current" };
    private readonly Option<GroupingMargin?> margin = new("--margin") { Description = "When grouping: Standard (best agreement) or Cautious (joins when in doubt: fewer originals cut in two, more groups holding two)" };

    public string Name => "groups";

    public Command CreateCommand() => new(Name, "Find and print the source groups (augmented copies of one original) of a dataset") { dataset, recompute, margin };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var datasets = services.GetRequiredService<DatasetService>();
        var grouping = services.GetRequiredService<GroupingService>();
        var summary = await datasets.GetAsync(parse.GetRequiredValue(dataset), cancellationToken);
        int lastTenth = -1;
        var progress = new Progress<double>(p =>
        {
            int tenth = (int)(p * 10);
            if (tenth != lastTenth) { lastTenth = tenth; output.Error.WriteLine($"  grouping: {p:P0}"); }
        });
        GroupingSummary? result = null;
        if (parse.GetValue(recompute) || summary.GroupedAt is null)
        {
            var chosen = parse.GetValue(margin);
            result = chosen is { } m ? await grouping.GroupAsync(summary.Id, m, progress, cancellationToken) : await grouping.GroupAsync(summary.Id, progress, cancellationToken);
            output.Error.WriteLine($"{result.Groups:N0} source groups from {summary.Images:N0} images in {result.Seconds:F1} s ({string.Join(", ", result.GroupsPerClass.Select(c => $"{c.Key} {c.Value}"))})");
            foreach (var cut in result.Cuts)
            {
                output.Error.WriteLine($"  {cut.Margin} margin: {cut.Groups:N0} groups, largest {cut.LargestGroup:N0} images{(cut.Margin == result.Margin ? " (recorded)" : "")}");
            }
        }
        var groups = await grouping.GetGroupsAsync(summary.Id, cancellationToken);
        output.WriteResult(new
        {
            dataset = summary.Name,
            groups = groups.Select(g => new { group = g.Group, images = g.Images }),
            // Added keys (the contract only grows): set when this run grouped the dataset, null when it printed stored groups.
            grouperVersion = result?.GrouperVersion,
            margin = result?.Margin.ToString(),
            cuts = result?.Cuts.Select(c => new { margin = c.Margin.ToString(), groups = c.Groups, largestGroup = c.LargestGroup }),
        }, w =>
        {
            w.WriteLine($"{groups.Count:N0} source groups in '{summary.Name}' ({summary.Images:N0} images)");
            foreach (var g in groups.OrderByDescending(g => g.Images.Count).Take(20))
            {
                w.WriteLine($"  group {g.Group,5}: {g.Images.Count,4} images, e.g. {string.Join(", ", g.Images.Take(3))}");
            }
            if (groups.Count > 20) w.WriteLine($"  ... {groups.Count - 20:N0} more (--json lists all)");
        });
        return 0;
    }
}
