using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// The pretrained ResNet18's forward pass at 224x224: ONNX Runtime on the original graph (batch made
/// dynamic) against the TorchSharp module in eval/no_grad, batch 1 and batch 32, img/s side by side.
/// </summary>
public sealed class BackboneForwardBenchmark(ResNet18Backbone backbone, OnnxSessionFactory onnx, TorchRuntime torch) : IBenchmark
{
    private const int Size = 224;

    public string Name => "backbone";
    public string Description => "ResNet18 forward at 224x224: ONNX Runtime vs TorchSharp, img/s (batch 1 and 32)";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var files = PretrainedModelFiles.Default;
        files.EnsurePresent();
        var model = OnnxGraphEdits.WithDynamicBatch(OnnxGraphEdits.Load(files.ResNet18Onnx));
        using var session = onnx.Create(Google.Protobuf.MessageExtensions.ToByteArray(model));
        string inputName = session.InputMetadata.Keys.Single();

        var device = torch.Resolve();
        using var module = backbone.CreateResNet();
        module.to(device);
        module.eval();

        var results = new List<BenchResult>();
        foreach (int batch in new[] { 1, 32 })
        {
            cancellationToken.ThrowIfCancellationRequested();
            int images = batch == 1 ? 48 : 128;
            var data = new float[batch * 3 * Size * Size];
            var rng = new Random(batch);
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 255 - 120);

            progress?.Report($"ONNX Runtime, batch {batch}");
            var input = new DenseTensor<float>(data, [batch, 3, Size, Size]);
            double ort = ImagesPerSecond(batch, images, () =>
            {
                using var output = session.Run([NamedOnnxValue.CreateFromTensor(inputName, input)]);
            });

            progress?.Report($"TorchSharp, batch {batch}");
            using var x = tensor(data, [batch, 3, Size, Size]).to(device);
            double ts = ImagesPerSecond(batch, images, () =>
            {
                using var _ = no_grad();
                using var y = module.call(x);
                if (device.type == DeviceType.CUDA) cuda.synchronize();
            });

            results.Add(new BenchResult($"backbone.forward.onnxruntime.b{batch}", Math.Round(ort, 1), "img/s", null, null,
                $"providers: {string.Join("+", onnx.UsableProviders)}"));
            results.Add(new BenchResult($"backbone.forward.torchsharp.b{batch}", Math.Round(ts, 1), "img/s", Math.Round(ort, 1),
                $"backbone.forward.onnxruntime.b{batch}", $"device: {device.type.ToString().ToLowerInvariant()}, threads: {torch.Threads}"));
        }
        return results;
    }

    private static double ImagesPerSecond(int batch, int images, Action step)
    {
        step(); // warm-up: allocations, kernel selection
        int iterations = Math.Max(1, images / batch);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) step();
        return iterations * batch / watch.Elapsed.TotalSeconds;
    }
}
