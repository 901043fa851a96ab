using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;
using TorchTensor = TorchSharp.torch.Tensor;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// How much of the machine a fine-tune step uses: the achieved floating-point rate of the <c>default</c> preset's full
/// fine-tune step (forward, backward, AdamW; every stage trainable; batch and input size of the preset) against the bare
/// ONNX Runtime forward of the same backbone at the same size and batch, measured in the same run. FLOPs are counted by
/// <see cref="ResNet18Flops"/>: a forward costs F per image, a training step about 3F (forward, input gradients,
/// weight gradients; less the stem's input gradient). Variants tried beside the plain step: the input in channels-last memory order (oneDNN's preferred
/// layout for convolutions), and one thread instead of all; bf16 is named but only measured where the CPU has it.
/// </summary>
public sealed class TrainingFlopBenchmark(ResNet18Backbone backbone, ClassifierOnnxExporter exporter, OnnxSessionFactory onnx, TorchRuntime torch) : IBenchmark
{
    private const int Steps = 4;

    public string Name => "flops";
    public string Description => "Fine-tune step's GFLOP/s against the bare ONNX Runtime forward's (training.flop-efficiency), with channels-last and thread variants";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var config = TrainingPresets.Get("default");
        int batch = config.BatchSize, height = config.InputHeight, width = config.InputWidth;
        const int classes = 4;
        double forwardFlops = ResNet18Flops.Forward(height, width, classes), stepFlops = ResNet18Flops.TrainingStep(height, width, classes);
        string shape = $"{height}x{width}, batch {batch}";
        var data = new float[batch * 3 * height * width];
        var rng = new Random(5);
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 255 - 120);
        var labels = Enumerable.Range(0, batch).Select(i => (long)(i % classes)).ToArray();

        var device = torch.Resolve();
        manual_seed(1);
        using var model = new WbcClassifier(backbone.CreateResNet(), config.Head, classes);

        // The same network exported as users run it (the exported graph takes any input size).
        double ort;
        using (var session = onnx.Create(exporter.Export(model, new ClassifierOnnxMetadata(["A", "B", "C", "D"], height, width), ClassifierOnnxMetadata.PreparedFormat)))
        {
            var input = new DenseTensor<float>(data, [batch, 3, height, width]);
            progress?.Report($"ONNX Runtime forward, {shape}");
            ort = Rate(batch, () =>
            {
                using var output = session.Run([NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, input)]);
            }, iterations: 8) * forwardFlops / 1e9;
        }

        model.to(device);
        model.SetTrainableStages(config.Round2.UnfrozenStages);
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), config.Round2.LearningRate, weight_decay: config.WeightDecay);
        using var x = tensor(data, [batch, 3, height, width]).to(device);
        using var xChannelsLast = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2); // NCHW view over NHWC storage
        using var y = tensor(labels).to(device);

        double Forward()
        {
            model.eval();
            return Rate(batch, () =>
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                model.call(x);
                Sync(device);
            }, iterations: 8) * forwardFlops / 1e9;
        }

        double Train(TorchTensor input)
        {
            model.train();
            return Rate(batch, () =>
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(input), y);
                loss.backward();
                optimizer.step();
                Sync(device);
            }, Steps) * stepFlops / 1e9;
        }

        progress?.Report($"TorchSharp forward, {shape}");
        double tsForward = Forward();
        progress?.Report($"TorchSharp fine-tune step, {shape}");
        double step = Train(x);
        progress?.Report($"TorchSharp fine-tune step, channels-last input, {shape}");
        double stepChannelsLast = Train(xChannelsLast);
        int threads = get_num_threads();
        double stepOneThread = double.NaN;
        if (device.type == DeviceType.CPU && threads > 1)
        {
            progress?.Report($"TorchSharp fine-tune step, 1 thread, {shape}");
            set_num_threads(1);
            try { stepOneThread = Train(x); }
            finally { set_num_threads(threads); }
        }

        double best = Math.Max(step, stepChannelsLast);
        string bf16 = CpuHasBf16() ? "the CPU has bf16 instructions: not yet measured here" : "bf16 not tried: this CPU has no AVX512-BF16 or AMX";
        string flopsNote = FormattableString.Invariant($"{shape}; forward {forwardFlops / 1e9:0.000} GFLOP/image, step {stepFlops / 1e9:0.000}");
        var results = new List<BenchResult>
        {
            new("training.forward.onnxruntime", Math.Round(ort, 2), "GFLOP/s", null, null, $"{flopsNote}; providers: {string.Join("+", onnx.UsableProviders)}"),
            new("training.forward.torchsharp", Math.Round(tsForward, 2), "GFLOP/s", Math.Round(ort, 2), "training.forward.onnxruntime", $"eval, no_grad; device {device.type.ToString().ToLowerInvariant()}, {threads} threads"),
            new("training.step.torchsharp", Math.Round(step, 2), "GFLOP/s", Math.Round(ort, 2), "training.forward.onnxruntime", "NCHW input, all stages trainable, AdamW"),
            new("training.step.channels-last", Math.Round(stepChannelsLast, 2), "GFLOP/s", Math.Round(ort, 2), "training.forward.onnxruntime", "input in channels-last (NHWC) memory order"),
        };
        if (!double.IsNaN(stepOneThread))
            results.Add(new("training.step.1-thread", Math.Round(stepOneThread, 2), "GFLOP/s", Math.Round(step, 2), "training.step.torchsharp", $"1 thread against {threads}"));
        results.Add(new("training.flop-efficiency", Math.Round(best, 2), "GFLOP/s", Math.Round(ort, 2), "training.forward.onnxruntime",
            $"best fine-tune step against the bare ONNX Runtime forward (target ratio at least 0.7); {bf16}"));
        return results;
    }

    private static void Sync(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }

    /// <summary>Images per second over <paramref name="iterations"/> steps of <paramref name="batch"/> after one warm-up step.</summary>
    private static double Rate(int batch, Action step, int iterations)
    {
        step();
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) step();
        return iterations * batch / watch.Elapsed.TotalSeconds;
    }

    private static bool CpuHasBf16()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return false;
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
            return flags.Contains(" avx512_bf16", StringComparison.Ordinal) || flags.Contains(" amx_bf16", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
