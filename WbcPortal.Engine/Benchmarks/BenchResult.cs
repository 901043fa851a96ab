namespace WbcPortal.Engine.Benchmarks;

/// <summary>One figure beside the baseline it was measured against in the same run; <see cref="Ratio"/> = value / baseline.</summary>
public sealed record BenchResult(string Name, double Value, string Unit, double? Baseline, string? BaselineName, string? Note = null)
{
    public double? Ratio => Baseline is > 0 ? Math.Round(Value / Baseline.Value, 3) : null;
}

/// <summary>A named benchmark the <c>bench</c> verb can run.</summary>
public interface IBenchmark
{
    string Name { get; }
    string Description { get; }
    IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken);
}
