using System.CommandLine;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Services.Datasets;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>import PATH --name NAME</c>: a folder of class folders, or a zip of one.</summary>
public sealed class ImportVerb : ICliVerb
{
    private readonly Argument<string> path = new("PATH") { Description = "A folder of class folders, or a zip of one" };
    private readonly Option<string> name = new("--name") { Description = "Dataset name (created, or added to if it exists)", Required = true };

    public string Name => "import";

    public Command CreateCommand() => new(Name, "Import images (a folder of class folders or a zip); bad files are reported, never imported") { path, name };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var datasets = services.GetRequiredService<DatasetService>();
        string source = parse.GetRequiredValue(path);
        string dataset = parse.GetRequiredValue(name);
        var progress = new Progress<ImportProgress>(p =>
        {
            if (p.Done % 1000 == 0 || p.Done == p.Total) output.Error.WriteLine($"  {p.Done:N0}/{p.Total:N0} checked, {p.Rejected:N0} not imported");
        });
        DatasetImportSummary summary;
        if (Directory.Exists(source))
        {
            summary = await datasets.ImportFolderAsync(dataset, source, progress, cancellationToken);
        }
        else if (File.Exists(source) && source.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
        {
            summary = await datasets.ImportZipAsync(dataset, source, null, progress, cancellationToken);
        }
        else
        {
            throw new CliException($"'{source}' is neither a folder nor a .zip file", 2);
        }

        output.WriteResult(new
        {
            dataset = summary.Dataset,
            images = summary.Images,
            classes = summary.Classes,
            duplicates = summary.Duplicates,
            rejected = summary.Rejected.Select(r => new { file = r.RelativePath, reason = r.Message, code = r.Reason.ToString() }),
            seconds = Math.Round(summary.Seconds, 2),
        }, w =>
        {
            w.WriteLine($"Imported {summary.Images:N0} images into '{summary.Dataset}' in {summary.Seconds:F1} s");
            foreach (var (cls, n) in summary.Classes) w.WriteLine($"  {cls,-20} {n,7:N0}");
            if (summary.Rejected.Count > 0)
            {
                w.WriteLine($"{summary.Rejected.Count:N0} files not imported ({summary.Duplicates:N0} duplicates):");
                foreach (var r in summary.Rejected.Take(50)) w.WriteLine($"  {r.RelativePath}: {r.Message}");
                if (summary.Rejected.Count > 50) w.WriteLine($"  ... and {summary.Rejected.Count - 50:N0} more (--json lists all)");
            }
        });
        return summary.Images > 0 || summary.Rejected.Count == 0 ? 0 : 3;
    }
}
