using TorchSharp;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Compute;

/// <summary>Whether a device a run may ask for (auto, cpu, cuda) can be used here, and if not, why and what to choose.</summary>
public sealed record DeviceAvailability(string Name, bool Available, string? Reason);

/// <summary>Resolves the TorchSharp device and thread count once per process from <see cref="ComputeOptions"/>.</summary>
public sealed class TorchRuntime
{
    private readonly Lazy<(bool Cuda, int Threads)> probe;

    public TorchRuntime(ComputeOptions options)
    {
        Options = options;
        probe = new(() =>
        {
            int threads = options.TorchThreads > 0 ? options.TorchThreads : Environment.ProcessorCount;
            set_num_threads(threads);
            return (cuda.is_available(), get_num_threads());
        });
    }

    public ComputeOptions Options { get; }

    public bool CudaAvailable => probe.Value.Cuda;

    public int Threads => probe.Value.Threads;

    /// <summary>The devices a run may ask for, each with whether it can be used in this process (for the form and the checks before a run starts).</summary>
    public IReadOnlyList<DeviceAvailability> Devices() =>
    [
        new("auto", true, null),
        new("cpu", true, null),
        new("cuda", CudaAvailable, CudaAvailable ? null : NoCudaReason),
    ];

    /// <summary>Whether <paramref name="requested"/> can be used here; an unknown name is not available, with the names that are.</summary>
    public DeviceAvailability Availability(string? requested)
    {
        string want = (requested ?? Options.Device).Trim().ToLowerInvariant();
        if (want.Length == 0) want = "auto";
        return Devices().FirstOrDefault(d => d.Name == want)
            ?? new DeviceAvailability(want, false, $"unknown device '{requested}': use auto, cpu or cuda");
    }

    private const string NoCudaReason =
        "device 'cuda' is not available here: TorchSharp sees no GPU it can use (no CUDA device, or a CPU-only libtorch build; see README, GPU); choose 'cpu', or 'auto' to use a GPU only where there is one";

    /// <summary>The device a run asking for <paramref name="requested"/> (auto, cpu, cuda) gets.</summary>
    public Device Resolve(string? requested = null)
    {
        string want = (requested ?? Options.Device).Trim().ToLowerInvariant();
        return want switch
        {
            "auto" or "" => CudaAvailable ? CUDA : CPU,
            "cpu" => CPU,
            "cuda" => CudaAvailable ? CUDA : throw new InvalidOperationException(char.ToUpperInvariant(NoCudaReason[0]) + NoCudaReason[1..] + "."),
            _ => throw new ArgumentException($"Unknown device '{requested}': use auto, cpu or cuda.", nameof(requested)),
        };
    }

    /// <summary>"cuda" or "cpu" for the device <see cref="Resolve"/> gives by default.</summary>
    public string DefaultDeviceName => ComputeDevices.Of(Resolve()).Name();
}
