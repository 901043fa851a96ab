namespace WbcPortal.Engine.Compute;

/// <summary>Where a run actually trained (what "auto" resolved to).</summary>
public enum ComputeDevice
{
    Cpu,
    Cuda,
}

/// <summary>The one mapping of <see cref="ComputeDevice"/> to and from its stored and printed name ("cpu", "cuda").</summary>
public static class ComputeDevices
{
    public static string Name(this ComputeDevice device) => device switch
    {
        ComputeDevice.Cpu => "cpu",
        ComputeDevice.Cuda => "cuda",
        _ => throw new ArgumentOutOfRangeException(nameof(device), device, null),
    };

    /// <summary>The device a TorchSharp device runs on.</summary>
    public static ComputeDevice Of(TorchSharp.torch.Device device) => device.type == TorchSharp.DeviceType.CUDA ? ComputeDevice.Cuda : ComputeDevice.Cpu;

    public static bool TryParse(string? name, out ComputeDevice device)
    {
        switch (name)
        {
            case "cpu": device = ComputeDevice.Cpu; return true;
            case "cuda": device = ComputeDevice.Cuda; return true;
            default: device = default; return false;
        }
    }

    public static ComputeDevice Parse(string name) =>
        TryParse(name, out var device) ? device : throw new FormatException($"Unknown device '{name}'; expected cpu or cuda.");
}
