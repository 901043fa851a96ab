using Google.Protobuf;
using Onnx;

namespace WbcPortal.Engine.Models.Backbones;

/// <summary>
/// Reads the CNTK-exported ResNet18 ONNX graph and names each of its 110 initializers the way
/// <see cref="CntkResNet18"/> (torchvision style) names its parameters and buffers, by walking
/// Conv -> BatchNormalization -> Add. Nothing depends on the exporter's opaque names (Parameter91, ...).
/// </summary>
public static class CntkResNetWeights
{
    public sealed record NamedTensor(string Name, long[] Shape, float[] Values);

    public static IReadOnlyList<NamedTensor> Read(string onnxPath)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        return Map(model.Graph);
    }

    internal static IReadOnlyList<NamedTensor> Map(GraphProto graph)
    {
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        return MapNames(graph).Select(m => Tensor(inits, m.Initializer, m.Name)).ToList();
    }

    /// <summary>
    /// Pairs each initializer of the graph with the torchvision-style name of the parameter or buffer
    /// it holds (conv1.weight, layer1.0.bn1.running_var, ...). Every initializer is mapped exactly once.
    /// </summary>
    internal static IReadOnlyList<(string Initializer, string Name)> MapNames(GraphProto graph)
    {
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        var producer = new Dictionary<string, NodeProto>();
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output) producer[output] = node;
        }
        var consumers = graph.Node
            .SelectMany(n => n.Input.Select(i => (i, n)))
            .ToLookup(p => p.i, p => p.n);

        var result = new List<(string Initializer, string Name)>();

        void AddConvBn(NodeProto conv, string convName, string bnName)
        {
            if (conv.OpType != "Conv") throw Invalid($"expected Conv for {convName}, found {conv.OpType}");
            result.Add(Entry(inits, conv.Input[1], convName + ".weight"));
            var bn = consumers[conv.Output[0]].SingleOrDefault(n => n.OpType == "BatchNormalization")
                ?? throw Invalid($"no BatchNormalization after {convName}");
            string[] suffixes = ["weight", "bias", "running_mean", "running_var"];
            for (int i = 0; i < 4; i++) result.Add(Entry(inits, bn.Input[i + 1], $"{bnName}.{suffixes[i]}"));
        }

        var stem = graph.Node.First(n => n.OpType == "Conv");
        AddConvBn(stem, "conv1", "bn1");

        var adds = graph.Node.Where(n => n.OpType == "Add").ToList();
        int expectedBlocks = CntkResNet18.BlocksPerStage.Sum();
        if (adds.Count != expectedBlocks) throw Invalid($"expected {expectedBlocks} residual blocks, found {adds.Count}");

        int block = 0;
        for (int stage = 0; stage < CntkResNet18.BlocksPerStage.Length; stage++)
        {
            for (int b = 0; b < CntkResNet18.BlocksPerStage[stage]; b++, block++)
            {
                string prefix = $"layer{stage + 1}.{b}";
                NodeProto? mainConv2 = null, shortcutConv = null;
                foreach (var input in adds[block].Input)
                {
                    if (!producer.TryGetValue(input, out var p) || p.OpType != "BatchNormalization") continue;
                    var conv = producer[p.Input[0]];
                    bool afterRelu = producer.TryGetValue(conv.Input[0], out var before) && before.OpType == "Relu"
                        && producer.TryGetValue(before.Input[0], out var bn) && bn.OpType == "BatchNormalization"
                        && producer[bn.Input[0]].OpType == "Conv" && consumers[before.Output[0]].Count() == 1;
                    if (afterRelu) mainConv2 = conv; else shortcutConv = conv;
                }
                if (mainConv2 is null) throw Invalid($"{prefix}: main path not found");
                var mainConv1 = producer[producer[producer[mainConv2.Input[0]].Input[0]].Input[0]];
                AddConvBn(mainConv1, $"{prefix}.conv1", $"{prefix}.bn1");
                AddConvBn(mainConv2, $"{prefix}.conv2", $"{prefix}.bn2");
                if (shortcutConv is not null) AddConvBn(shortcutConv, $"{prefix}.downsample.0", $"{prefix}.downsample.1");
            }
        }
        if (result.Count != inits.Count || result.Select(r => r.Initializer).Distinct().Count() != inits.Count)
        {
            throw Invalid($"mapped {result.Count} of {inits.Count} initializers");
        }
        return result;
    }

    private static (string Initializer, string Name) Entry(Dictionary<string, TensorProto> inits, string name, string targetName) =>
        inits.ContainsKey(name) ? (name, targetName) : throw Invalid($"initializer {name} missing");

    private static NamedTensor Tensor(Dictionary<string, TensorProto> inits, string name, string targetName)
    {
        if (!inits.TryGetValue(name, out var t)) throw Invalid($"initializer {name} missing");
        if (t.DataType != (int)TensorProto.Types.DataType.Float) throw Invalid($"{name} is not float32");
        float[] values = t.FloatData.Count > 0 ? t.FloatData.ToArray() : FromRaw(t.RawData);
        return new NamedTensor(targetName, t.Dims.ToArray(), values);
    }

    private static float[] FromRaw(ByteString raw)
    {
        var values = new float[raw.Length / 4];
        Buffer.BlockCopy(raw.ToByteArray(), 0, values, 0, values.Length * 4);
        return values;
    }

    private static InvalidDataException Invalid(string message) =>
        new($"The pretrained ResNet18 ONNX file does not have the expected shape: {message}.");
}
