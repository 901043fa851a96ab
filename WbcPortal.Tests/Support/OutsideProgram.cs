using System.Diagnostics;
using System.Text.Json;

namespace WbcPortal.Tests.Support;

/// <summary>
/// The outside integrator's program in <c>WbcPortal.Tests/Outside</c> (its own package.json and package-lock.json:
/// onnxruntime-node, pngjs, openapi-typescript, openapi-fetch), run with Node.js as a separate process. The packages are
/// installed by <c>.build/prerequisites.sh</c> (<c>npm ci</c>).
/// </summary>
public static class OutsideProgram
{
    public static string Folder => Path.Combine(PortalProcess.RepositoryRoot(), "WbcPortal.Tests", "Outside");

    /// <summary>
    /// Null when the program can run here; otherwise why not, for a skip. Node.js missing: the prerequisites could not
    /// install the packages, skip. Node.js present but the packages missing or not the pinned versions: the prerequisites
    /// were not run, skip and say so, except in CI (<c>CI</c> set), which runs them, where it fails.
    /// </summary>
    public static string? Unavailable()
    {
        if (!OnPath("node"))
        {
            return "node is not installed: the outside program needs Node.js 20.19 or newer; .build/prerequisites.sh installs its packages (npm ci in WbcPortal.Tests/Outside) where node is.";
        }
        var missing = MissingPackages();
        if (missing.Count == 0) return null;
        string why = $"The outside program's packages are not installed in {Folder} ({string.Join(", ", missing)}): run .build/prerequisites.sh (npm ci there).";
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))) Assert.Fail(why + " CI runs the prerequisites, so this is a failure here.");
        return why;
    }

    /// <summary>Each package of package.json that node_modules lacks or holds at another version than the pinned one.</summary>
    private static List<string> MissingPackages()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "package.json")));
        var missing = new List<string>();
        foreach (var group in new[] { "dependencies", "devDependencies" })
        {
            if (!manifest.RootElement.TryGetProperty(group, out var packages)) continue;
            foreach (var package in packages.EnumerateObject())
            {
                string installed = Path.Combine(Folder, "node_modules", package.Name, "package.json");
                string? version = null;
                if (File.Exists(installed))
                {
                    using var found = JsonDocument.Parse(File.ReadAllText(installed));
                    version = found.RootElement.TryGetProperty("version", out var v) ? v.GetString() : null;
                }
                if (version != package.Value.GetString()) missing.Add($"{package.Name} {package.Value.GetString()}{(version is null ? "" : $" (found {version})")}");
            }
        }
        return missing;
    }

    /// <summary>Runs <c>node</c> with these arguments in the program's folder, killed past <paramref name="timeout"/>.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> NodeAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment,
        TimeSpan timeout, CancellationToken ct)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Folder,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node.");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"node {string.Join(' ', args)} did not end within {timeout.TotalSeconds:0} s:\n{await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>As <see cref="NodeAsync"/>, failing the test with the program's output when it does not exit 0; returns its stdout.</summary>
    public static async Task<string> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, CancellationToken ct)
    {
        var list = args.ToList();
        var (exit, stdout, stderr) = await NodeAsync(list, environment, timeout, ct);
        Assert.True(exit == 0, $"node {string.Join(' ', list)} exited with {exit}:\n{stderr}\n{stdout}");
        if (stderr.Length > 0) TestContext.Current.SendDiagnosticMessage("node {0}: {1}", list[0], stderr.Trim());
        return stdout;
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, program)));
}
