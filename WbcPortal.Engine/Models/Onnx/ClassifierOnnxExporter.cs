using Google.Protobuf;
using Onnx;
using TorchSharp;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>
/// Exports a trained <see cref="WbcClassifier"/> to ONNX. TorchSharp has no exporter, so the pretrained
/// CNTK ResNet18 graph is used as the template: its 110 initializers are overwritten with the trained
/// backbone's parameters and BatchNorm running statistics (matched by <see cref="CntkResNetWeights"/>'s
/// Conv -> BatchNormalization -> Add walk, not by the graph's opaque names), the asymmetric pads are made
/// symmetric (as in <see cref="CntkResNet18"/>), the fixed 7x7 AveragePool becomes GlobalAveragePool, and
/// Flatten -> (Gemm -> Relu)* -> Gemm -> Softmax is appended for the head (dropout is identity at inference).
/// </summary>
/// <remarks>
/// By default the export is self-contained (format 2, <see cref="WindowGraph"/>): input <c>window</c> uint8 [N, H, W, 3]
/// RGB, the flips, mean image and temperature inside, <c>probs</c> the portal's answer. The core it wraps (format 1,
/// still read by the portal) has input <c>input</c> [N, 3, H, W] float (the preprocessed tensor the TorchSharp model takes);
/// outputs <c>logits</c> [N, C], <c>probs</c> [N, C] (plain softmax over classes) and <c>features</c> [N, 512].
/// N, H and W are symbolic. The opset stays at the template's 8: every op used (Conv, BatchNormalization
/// in test mode, Relu, MaxPool, Add, GlobalAveragePool, Flatten, Gemm, Softmax on 2-D input) is defined there.
/// </remarks>
public sealed class ClassifierOnnxExporter
{
    public const string InputName = "input";
    public const string LogitsName = "logits";
    public const string ProbsName = "probs";
    public const string FeaturesName = "features";

    private const int FloatType = (int)TensorProto.Types.DataType.Float;

    private readonly Lazy<ModelProto> template;
    private readonly BackboneRegistry backbones;

    /// <param name="backbones">Where the mean image a self-contained graph holds comes from; by default the ResNet18 of <paramref name="files"/>.</param>
    public ClassifierOnnxExporter(PretrainedModelFiles files, BackboneRegistry? backbones = null)
    {
        template = new(() =>
        {
            files.EnsurePresent();
            return OnnxGraphEdits.Load(files.ResNet18Onnx);
        });
        this.backbones = backbones ?? new BackboneRegistry([new ResNet18Backbone(files)]);
    }

    /// <summary>The exported model, serialized.</summary>
    public byte[] Export(WbcClassifier model, ClassifierOnnxMetadata metadata, int format = ClassifierOnnxMetadata.WindowFormat) => Build(model, metadata, format).ToByteArray();

    /// <summary>Writes the exported model to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public void Export(WbcClassifier model, ClassifierOnnxMetadata metadata, string path, int format = ClassifierOnnxMetadata.WindowFormat) =>
        ModelProtoFile.Write(Build(model, metadata, format), path);

    /// <summary>
    /// The exported model as a protobuf object: self-contained (format 2) by default; <paramref name="format"/> 1 gives the
    /// older interface taking the prepared tensor (what the portal exported before, and still reads).
    /// </summary>
    public ModelProto Build(WbcClassifier model, ClassifierOnnxMetadata metadata, int format = ClassifierOnnxMetadata.WindowFormat)
    {
        var core = BuildCore(model, metadata with { Format = format });
        return format == ClassifierOnnxMetadata.WindowFormat ? MakeSelfContained(core, metadata with { Format = format }) : core;
    }

    /// <summary>
    /// <paramref name="core"/> (a format-1 graph: the exporter's older output or an ensemble of them) wrapped as a self-contained
    /// graph for <paramref name="metadata"/> (its backbone's mean image at the input size, its flips and temperature), with that metadata.
    /// </summary>
    public ModelProto MakeSelfContained(ModelProto core, ClassifierOnnxMetadata metadata)
    {
        metadata = metadata with { Format = ClassifierOnnxMetadata.WindowFormat };
        metadata.Validate();
        var mean = backbones.Get(metadata.Backbone).CreatePreprocessor(metadata.InputHeight, metadata.InputWidth);
        var proto = WindowGraph.Wrap(core, mean.MeanPlanes, metadata.InputHeight, metadata.InputWidth, metadata.TestTimeAugmentation, metadata.Temperature);
        SetMetadata(proto, metadata);
        return proto;
    }

    /// <summary>
    /// The model file at <paramref name="path"/> as a self-contained model: null when it already is one (serve the file), else
    /// an older export (format 1) wrapped with the same weights and metadata (the file itself is left as it is).
    /// </summary>
    public byte[]? SelfContainedCopy(string path)
    {
        ModelProto proto;
        using (var stream = File.OpenRead(path)) proto = ModelProto.Parser.ParseFrom(stream);
        if (WindowGraph.TakesWindow(proto)) return null;
        var metadata = ClassifierOnnxMetadata.Read(proto);
        var upgraded = MakeSelfContained(proto, metadata);
        upgraded.DocString = proto.DocString;
        return upgraded.ToByteArray();
    }

    /// <summary>Replaces the model's metadata; the temperature constant of a self-contained graph follows the metadata's.</summary>
    public static void SetMetadata(ModelProto proto, ClassifierOnnxMetadata metadata)
    {
        bool window = WindowGraph.TakesWindow(proto);
        if (window != (metadata.Format == ClassifierOnnxMetadata.WindowFormat))
            throw new ArgumentException($"The graph is format {(window ? 2 : 1)} but the metadata says {metadata.Format}.", nameof(metadata));
        var properties = metadata.ToProperties();
        WindowGraph.SetTemperature(proto, metadata.Temperature);
        proto.MetadataProps.Clear();
        foreach (var (key, value) in properties) proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }

    private ModelProto BuildCore(WbcClassifier model, ClassifierOnnxMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(metadata);
        metadata.Validate();
        if (metadata.Labels.Count != model.Classes)
        {
            throw new ArgumentException($"The model has {model.Classes} classes but {metadata.Labels.Count} labels were given.", nameof(metadata));
        }
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian.");

        var proto = template.Value.Clone();
        var graph = proto.Graph;
        string originalInput = graph.Input.Single().Name;
        string pooled = graph.Output.Single().Name;

        OverwriteBackbone(graph, model.Backbone);
        EditBackboneNodes(graph, originalInput, pooled);
        AppendHead(graph, model, pooled);
        SetInterface(graph, model.Classes);

        proto.ProducerName = "WbcPortal";
        proto.ProducerVersion = typeof(ClassifierOnnxExporter).Assembly.GetName().Version?.ToString() ?? "";
        proto.Domain = "";
        proto.DocString = "WbcPortal white blood cell classifier (ResNet18 backbone + dense head).";
        proto.MetadataProps.Clear();
        foreach (var (key, value) in (metadata with { Format = ClassifierOnnxMetadata.PreparedFormat }).ToProperties())
        {
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        return proto;
    }

    /// <summary>Replaces every initializer of the template with the trained tensor of the same role.</summary>
    private static void OverwriteBackbone(GraphProto graph, CntkResNet18 backbone)
    {
        var names = CntkResNetWeights.MapNames(graph);
        var state = backbone.state_dict();
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (initializer, name) in names)
        {
            if (!state.TryGetValue(name, out var source)) throw new InvalidOperationException($"The backbone has no tensor {name}.");
            var old = inits[initializer];
            if (!old.Dims.SequenceEqual(source.shape))
            {
                throw new InvalidOperationException(
                    $"{name} has shape [{string.Join(",", source.shape)}], the graph wants [{string.Join(",", old.Dims)}].");
            }
            var replacement = FloatTensor(initializer, source);
            int index = graph.Initializer.IndexOf(old);
            graph.Initializer[index] = replacement;
            used.Add(name);
        }
        var missing = state.Keys.Where(k => !k.EndsWith("num_batches_tracked", StringComparison.Ordinal) && !used.Contains(k)).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"Backbone tensors not exported: {string.Join(", ", missing)}.");
    }

    /// <summary>Renames the input, makes pads symmetric and pooling global.</summary>
    private static void EditBackboneNodes(GraphProto graph, string originalInput, string pooled)
    {
        int averagePools = 0;
        foreach (var node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == originalInput) node.Input[i] = InputName;
            }
            if (node.OpType is "Conv" or "MaxPool")
            {
                var pads = node.Attribute.SingleOrDefault(a => a.Name == "pads");
                if (pads is not null && pads.Ints.Count > 0)
                {
                    // [x1_begin, x2_begin, ..., x1_end, x2_end]: the end pads take the begin pads, as in CntkResNet18.
                    if (pads.Ints.Count % 2 != 0) throw new InvalidDataException($"{node.OpType} has odd pads.");
                    int rank = pads.Ints.Count / 2;
                    for (int i = 0; i < rank; i++) pads.Ints[rank + i] = pads.Ints[i];
                }
                var autoPad = node.Attribute.SingleOrDefault(a => a.Name == "auto_pad");
                if (autoPad is not null && !autoPad.S.IsEmpty && autoPad.S.ToStringUtf8() != "NOTSET")
                {
                    throw new InvalidDataException($"{node.OpType} uses auto_pad {autoPad.S.ToStringUtf8()}.");
                }
            }
            else if (node.OpType == "AveragePool")
            {
                if (node.Output.Single() != pooled) throw new InvalidDataException("An AveragePool other than the final one.");
                node.OpType = "GlobalAveragePool";
                node.Attribute.Clear();
                averagePools++;
            }
        }
        if (averagePools != 1) throw new InvalidDataException($"Expected one final AveragePool, found {averagePools}.");
    }

    /// <summary>Flatten -> features, then Gemm (+ Relu) per dense layer -> logits -> Softmax -> probs.</summary>
    private static void AppendHead(GraphProto graph, WbcClassifier model, string pooled)
    {
        graph.Node.Add(Node("Flatten", "head_flatten", [pooled], [FeaturesName], Int("axis", 1)));
        var dense = model.DenseLayers;
        string current = FeaturesName;
        long width = CntkResNet18.FeatureDim;
        for (int i = 0; i < dense.Count; i++)
        {
            var layer = dense[i];
            bool last = i == dense.Count - 1;
            if (layer.weight is null) throw new InvalidOperationException($"Dense layer {i} has no weight.");
            if (layer.weight.shape.Length != 2 || layer.weight.shape[1] != width)
            {
                throw new InvalidOperationException($"Dense layer {i} has weight [{string.Join(",", layer.weight.shape)}], expected [*, {width}].");
            }
            long outputs = layer.weight.shape[0];
            string weightName = $"head_dense{i}_weight", biasName = $"head_dense{i}_bias";
            graph.Initializer.Add(FloatTensor(weightName, layer.weight));
            if (layer.bias is not null)
            {
                graph.Initializer.Add(FloatTensor(biasName, layer.bias));
            }
            else
            {
                // Gemm before opset 11 requires C; a zero bias is the same as none.
                using var zeros = torch.zeros(outputs);
                graph.Initializer.Add(FloatTensor(biasName, zeros));
            }
            string gemmOut = last ? LogitsName : $"head_dense{i}_out";
            graph.Node.Add(Node("Gemm", $"head_dense{i}", [current, weightName, biasName], [gemmOut],
                Float("alpha", 1f), Float("beta", 1f), Int("transA", 0), Int("transB", 1)));
            current = gemmOut;
            if (!last)
            {
                string relu = $"head_relu{i}_out";
                graph.Node.Add(Node("Relu", $"head_relu{i}", [current], [relu]));
                current = relu;
            }
            width = outputs;
        }
        if (width != model.Classes) throw new InvalidOperationException($"The head ends with {width} outputs, the model has {model.Classes} classes.");
        graph.Node.Add(Node("Softmax", "head_softmax", [LogitsName], [ProbsName], Int("axis", 1)));
    }

    private static void SetInterface(GraphProto graph, int classes)
    {
        // Shapes recorded for the fixed 1x3x224x224 input would contradict the dynamic ones.
        graph.ValueInfo.Clear();
        graph.Input.Clear();
        graph.Input.Add(Value(InputName, Dim("N"), Dim(3), Dim("H"), Dim("W")));
        graph.Output.Clear();
        graph.Output.Add(Value(LogitsName, Dim("N"), Dim(classes)));
        graph.Output.Add(Value(ProbsName, Dim("N"), Dim(classes)));
        graph.Output.Add(Value(FeaturesName, Dim("N"), Dim(CntkResNet18.FeatureDim)));
    }

    private static TensorProto FloatTensor(string name, Tensor source)
    {
        using var scope = NewDisposeScope();
        var cpu = source.detach().to_type(ScalarType.Float32).cpu().contiguous();
        float[] values = cpu.data<float>().ToArray();
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        var t = new TensorProto { Name = name, DataType = FloatType, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(source.shape);
        return t;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static TensorShapeProto.Types.Dimension Dim(string symbol) => new() { DimParam = symbol };

    private static TensorShapeProto.Types.Dimension Dim(long value) => new() { DimValue = value };

    private static ValueInfoProto Value(string name, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = FloatType, Shape = shape } },
        };
    }
}
