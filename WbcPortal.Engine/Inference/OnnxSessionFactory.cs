using Microsoft.ML.OnnxRuntime;
using WbcPortal.Engine.Compute;

namespace WbcPortal.Engine.Inference;

/// <summary>
/// Creates ONNX Runtime sessions on the best provider that actually loads: CUDA when its libraries
/// (CUDA 13) are present, else CPU. <c>GetAvailableProviders()</c> lists CUDA even where it cannot
/// load, so usability is found by trying.
/// </summary>
public sealed class OnnxSessionFactory
{
    public const string Cuda = "CUDAExecutionProvider";
    public const string Cpu = "CPUExecutionProvider";

    private readonly ComputeOptions options;
    private readonly Lazy<bool> cudaUsable;

    public OnnxSessionFactory(ComputeOptions options)
    {
        this.options = options;
        cudaUsable = new(ProbeCuda);
    }

    /// <summary>Providers that load on this machine, best first.</summary>
    public IReadOnlyList<string> UsableProviders => cudaUsable.Value ? [Cuda, Cpu] : [Cpu];

    public InferenceSession Create(string modelPath) => new(modelPath, CreateOptions());

    public InferenceSession Create(byte[] model) => new(model, CreateOptions());

    private SessionOptions CreateOptions()
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = options.OnnxThreads > 0 ? options.OnnxThreads : Environment.ProcessorCount,
        };
        if (!options.OnnxSpinning) so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (cudaUsable.Value) so.AppendExecutionProvider_CUDA(0);
        return so;
    }

    private bool ProbeCuda()
    {
        if (!options.OnnxUseCuda || !OrtEnv.Instance().GetAvailableProviders().Contains(Cuda)) return false;
        // The CUDA provider needs CUDA 13's cuBLASLt; without it ORT would log an error on every probe.
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad("libcublasLt.so.13", out var cublas)) return false;
        System.Runtime.InteropServices.NativeLibrary.Free(cublas);
        try
        {
            using var so = new SessionOptions();
            so.AppendExecutionProvider_CUDA(0);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
    }
}
