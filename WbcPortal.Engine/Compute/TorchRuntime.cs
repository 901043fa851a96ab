using TorchSharp;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Compute;

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

    /// <summary>The device a run asking for <paramref name="requested"/> (auto, cpu, cuda) gets.</summary>
    public Device Resolve(string? requested = null)
    {
        string want = (requested ?? Options.Device).Trim().ToLowerInvariant();
        return want switch
        {
            "auto" or "" => CudaAvailable ? CUDA : CPU,
            "cpu" => CPU,
            "cuda" => CudaAvailable
                ? CUDA
                : throw new InvalidOperationException("CUDA was requested but TorchSharp sees no GPU (is this a CPU libtorch build? see README, GPU)."),
            _ => throw new ArgumentException($"Unknown device '{requested}': use auto, cpu or cuda.", nameof(requested)),
        };
    }

    /// <summary>"cuda" or "cpu" for the device <see cref="Resolve"/> gives by default.</summary>
    public string DefaultDeviceName => Resolve().type == DeviceType.CUDA ? "cuda" : "cpu";
}
