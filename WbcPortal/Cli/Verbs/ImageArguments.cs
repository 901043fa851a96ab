using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Classify;

namespace WbcPortal.Cli.Verbs;

/// <summary>The images named on a command line (files, and folders read recursively), read as <c>predict</c> and <c>smear</c> take them.</summary>
internal static class ImageArguments
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png"];

    /// <summary>The readable images in input order, and every file set aside with its reason (not an image, a FIFO, ...).</summary>
    public static async Task<(List<PredictionInput> Inputs, List<(string File, string Reason)> Skipped)> ReadAsync(IEnumerable<string> given, CancellationToken cancellationToken)
    {
        var files = new List<string>();
        var skipped = new List<(string File, string Reason)>();
        foreach (var path in given)
        {
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    if (Path.GetFileName(file).StartsWith('.')) continue;
                    if (!ImageExtensions.Contains(Path.GetExtension(file).ToLowerInvariant())) { skipped.Add((file, "not a JPEG or PNG file")); continue; }
                    files.Add(file);
                }
            }
            else if (File.Exists(path)) files.Add(path);
            else throw new CliException($"no file or folder {path}", 2);
        }
        if (files.Count == 0) throw new CliException("no JPEG or PNG image in what was given", 2);
        var inputs = new List<PredictionInput>(files.Count);
        foreach (var file in files)
        {
            if (UntrustedFiles.Refusal(file) is { } refusal) { skipped.Add((file, refusal)); continue; }
            inputs.Add(new PredictionInput(file, await File.ReadAllBytesAsync(file, cancellationToken)));
        }
        return (inputs, skipped);
    }

    /// <summary>A progress line on stderr at most every 5 s.</summary>
    public static IProgress<int> Progress(CliOutput output, int total, string what)
    {
        var last = DateTime.MinValue;
        return new Progress<int>(n =>
        {
            if (DateTime.UtcNow - last < TimeSpan.FromSeconds(5) && n < total) return;
            last = DateTime.UtcNow;
            output.Error.WriteLine($"  {n}/{total} {what}");
        });
    }
}
