using System.CommandLine;
using WbcPortal.Services;

namespace WbcPortal.Cli.Verbs;

/// <summary><c>info</c>: version, compute device, usable ONNX Runtime providers and the one serving runs on, data folder, database.</summary>
public sealed class InfoVerb : ICliVerb
{
    public string Name => "info";

    public bool WritesData => false;

    public Command CreateCommand() => new(Name, "Show the version, compute device, usable ONNX Runtime providers and where data lives");

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var status = await services.GetRequiredService<SystemStatusService>().GetAsync(cancellationToken);
        output.WriteResult(new
        {
            status.Version,
            status.Device,
            status.TorchThreads,
            status.OnnxProviders,
            dataDir = status.DataDirectory,
            status.Database,
            status.ActiveModel,
            status.Serving,
        }, w =>
        {
            w.WriteLine($"WbcPortal {status.Version}");
            w.WriteLine($"  device:          {status.Device} ({status.TorchThreads} TorchSharp threads)");
            w.WriteLine($"  ONNX providers:  {string.Join(", ", status.OnnxProviders)}");
            if (status.Serving is { } serving)
                w.WriteLine($"  serving:         {serving.Provider}, {serving.OnnxThreads} ONNX threads{(serving.Spinning ? " (spinning)" : "")}, micro-batches of up to {serving.MaxBatch}{(serving.MicroBatchWindowMs > 0 ? $" within {serving.MicroBatchWindowMs} ms" : "")}");
            w.WriteLine($"  data folder:     {status.DataDirectory}");
            w.WriteLine($"  database:        {status.Database}");
            w.WriteLine($"  active model:    {status.ActiveModel ?? "(none yet)"}");
        });
        return 0;
    }
}
