namespace WbcPortal.Engine.Benchmarks;

/// <summary>What a benchmark's figures depend on, said beside them.</summary>
public static class BenchMachine
{
    /// <summary>The CPU's model name (/proc/cpuinfo) and whether it has AVX-512: the figures depend on them.</summary>
    public static string Cpu()
    {
        try
        {
            var lines = File.ReadLines("/proc/cpuinfo").Take(64).ToList();
            string? Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal) && l[name.Length..].TrimStart().StartsWith(':'))?.Split(':', 2)[1].Trim();
            string? model = Field("model name"), family = Field("cpu family"), number = Field("model");
            bool avx512 = Field("flags") is { } flags && flags.Split(' ').Contains("avx512f");
            return $"{model ?? "unknown CPU"}{(family is null ? "" : $" (family {family} model {number})")}{(avx512 ? ", AVX-512" : "")}, {Environment.ProcessorCount} cores";
        }
        catch (IOException)
        {
            return $"{Environment.ProcessorCount} cores";
        }
    }
}
