using System.CommandLine;
using System.Runtime.InteropServices;
using WbcPortal.Engine.Benchmarks;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>bench [--only NAME]</c>: speed figures, each beside the baseline it was measured against in the same run.</summary>
public sealed class BenchVerb : ICliVerb
{
    private readonly Option<string?> only = new("--only") { Description = "Run one benchmark by name" };

    public string Name => "bench";

    public bool WritesData => false;

    public Command CreateCommand() => new(Name, "Measure speeds side by side (ONNX Runtime vs TorchSharp, ...)") { only };

    public Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var all = services.GetServices<IBenchmark>().ToList();
        string? name = parse.GetValue(only);
        var selected = name is null ? all : all.Where(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (selected.Count == 0)
        {
            throw new CliException($"no benchmark named '{name}'; available: {string.Join(", ", all.Select(b => b.Name))}", 2);
        }

        var results = new List<BenchResult>();
        foreach (var bench in selected)
        {
            output.Error.WriteLine($"[{bench.Name}] {bench.Description}");
            results.AddRange(bench.Run(output.Progress, cancellationToken));
        }

        string machine = $"{BenchMachine.Cpu()}, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}";
        output.WriteResult(new
        {
            machine,
            results = results.Select(r => new { r.Name, r.Value, r.Unit, r.Baseline, r.Ratio, r.BaselineName, r.Note }),
        }, w =>
        {
            w.WriteLine(machine);
            w.WriteLine($"{"benchmark",-42} {"value",10} {"unit",-6} {"baseline",10} {"ratio",7}");
            foreach (var r in results)
            {
                w.WriteLine($"{r.Name,-42} {Figure(r.Value),10} {r.Unit,-6} {(r.Baseline is { } b ? Figure(b) : ""),10} {r.Ratio?.ToString("0.00") ?? "",7}  {r.Note}");
            }
        });
        return Task.FromResult(0);
    }

    /// <summary>One decimal, two under 10 (a profile's milliseconds).</summary>
    private static string Figure(double value) => value.ToString(Math.Abs(value) < 10 ? "0.00" : "0.0", System.Globalization.CultureInfo.InvariantCulture);
}
