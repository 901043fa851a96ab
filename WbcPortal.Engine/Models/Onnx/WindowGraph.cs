using Google.Protobuf;
using Onnx;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>
/// The self-contained classifier graph (format 2): the portal's preparation and answer moved into the graph around the
/// exporter's core (format 1, which takes the prepared tensor), so a program with the model file alone gets the portal's
/// probabilities from the window's pixels.
/// </summary>
/// <remarks>
/// <para>Input <c>window</c>: uint8 [N, H, W, 3], NHWC, RGB, H x W the model's input size (fixed).</para>
/// <para>Inside: Cast to float, Transpose to [N, 3, H, W], Gather the channels (2, 1, 0) to BGR; with flips the views
/// none, left-right (Gather on W reversed), top-bottom (on H), both, concatenated on the batch axis as [V*N, ...] (view
/// major); Sub the mean image [1, 3, H, W] (BGR planes, not mirrored: it is the model's, not the picture's); the core;
/// its logits reshaped to [V, N, C] and averaged over V (<c>logits</c>); <c>probs</c> = Softmax(logits / T) with T the
/// initializer <see cref="TemperatureName"/>; <c>features</c> the first view's [N, 512].</para>
/// <para>Every op is defined at the template's opset 8. Nodes and initializers of the wrapper are named with
/// <see cref="Prefix"/>, so <see cref="Unwrap"/> gives the core back (to re-wrap with other flips, or to build an ensemble).</para>
/// </remarks>
public static class WindowGraph
{
    public const string WindowName = "window";
    public const string Prefix = "wbc_";
    public const string TemperatureName = Prefix + "temperature";
    public const string MeanName = Prefix + "mean_image";
    private const string CoreLogits = Prefix + "core_logits", CoreFeatures = Prefix + "core_features";
    private const string CoreSoftmax = "head_softmax";

    private const int FloatType = (int)TensorProto.Types.DataType.Float;
    private const int ByteType = (int)TensorProto.Types.DataType.Uint8;
    private const int LongType = (int)TensorProto.Types.DataType.Int64;

    /// <summary>Whether <paramref name="model"/> takes the window (format 2) rather than the prepared tensor.</summary>
    public static bool TakesWindow(ModelProto model) => model.Graph.Input.Any(i => i.Name == WindowName);

    /// <summary>
    /// The self-contained graph around <paramref name="core"/> (a format-1 classifier: input <c>input</c>, outputs
    /// <c>logits</c>, <c>probs</c>, <c>features</c>). <paramref name="meanPlanes"/> is the mean image at the input size,
    /// [3, H, W] in B, G, R plane order.
    /// </summary>
    public static ModelProto Wrap(ModelProto core, ReadOnlySpan<float> meanPlanes, int height, int width, bool flips, double temperature)
    {
        ArgumentNullException.ThrowIfNull(core);
        if (TakesWindow(core)) throw new ArgumentException("The model already takes the window.", nameof(core));
        if (meanPlanes.Length != 3 * height * width) throw new ArgumentException($"The mean image has {meanPlanes.Length} values, not 3 x {height} x {width}.", nameof(meanPlanes));
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature));
        var proto = core.Clone();
        var graph = proto.Graph;
        if (graph.Input.Count != 1 || graph.Input[0].Name != ClassifierOnnxExporter.InputName)
            throw new ArgumentException($"The core must take one input '{ClassifierOnnxExporter.InputName}'.", nameof(core));
        var logitsInfo = graph.Output.Single(o => o.Name == ClassifierOnnxExporter.LogitsName);
        long classes = logitsInfo.Type.TensorType.Shape.Dim[1].DimValue;
        if (classes < 1) throw new ArgumentException("The core's logits have no fixed class count.", nameof(core));

        // The core's probs (plain softmax of one view) goes; its logits and features become internal.
        var softmax = graph.Node.Where(n => n.Output.Contains(ClassifierOnnxExporter.ProbsName)).ToList();
        foreach (var node in softmax) graph.Node.Remove(node);
        foreach (var node in graph.Node)
        {
            Rename(node.Input, ClassifierOnnxExporter.LogitsName, CoreLogits);
            Rename(node.Input, ClassifierOnnxExporter.FeaturesName, CoreFeatures);
            Rename(node.Output, ClassifierOnnxExporter.LogitsName, CoreLogits);
            Rename(node.Output, ClassifierOnnxExporter.FeaturesName, CoreFeatures);
        }

        var front = new List<NodeProto>();
        var inits = new List<TensorProto>();
        front.Add(Node("Cast", "window_float", [WindowName], [Prefix + "window_float"], Int("to", FloatType)));
        front.Add(Node("Transpose", "nchw", [Prefix + "window_float"], [Prefix + "rgb"], Ints("perm", 0, 3, 1, 2)));
        inits.Add(Longs(Prefix + "bgr_order", [3], [2, 1, 0]));
        front.Add(Node("Gather", "bgr", [Prefix + "rgb", Prefix + "bgr_order"], [Prefix + "bgr"], Int("axis", 1)));
        int views = flips ? 4 : 1;
        string[] viewNames = [Prefix + "bgr"];
        if (flips)
        {
            inits.Add(Longs(Prefix + "reverse_w", [width], Enumerable.Range(0, width).Select(i => (long)(width - 1 - i)).ToArray()));
            inits.Add(Longs(Prefix + "reverse_h", [height], Enumerable.Range(0, height).Select(i => (long)(height - 1 - i)).ToArray()));
            // The trainer's order: none, left-right, top-bottom, both.
            front.Add(Node("Gather", "flip_lr", [Prefix + "bgr", Prefix + "reverse_w"], [Prefix + "view_lr"], Int("axis", 3)));
            front.Add(Node("Gather", "flip_tb", [Prefix + "bgr", Prefix + "reverse_h"], [Prefix + "view_tb"], Int("axis", 2)));
            front.Add(Node("Gather", "flip_both", [Prefix + "view_lr", Prefix + "reverse_h"], [Prefix + "view_both"], Int("axis", 2)));
            viewNames = [Prefix + "bgr", Prefix + "view_lr", Prefix + "view_tb", Prefix + "view_both"];
            front.Add(Node("Concat", "views", viewNames, [Prefix + "views"], Int("axis", 0)));
        }
        var mean = new TensorProto { Name = MeanName, DataType = FloatType, RawData = FloatBytes(meanPlanes) };
        mean.Dims.AddRange([1, 3, height, width]);
        inits.Add(mean);
        front.Add(Node("Sub", "minus_mean", [flips ? Prefix + "views" : Prefix + "bgr", MeanName], [ClassifierOnnxExporter.InputName]));

        var back = new List<NodeProto>();
        inits.Add(Longs(Prefix + "logits_by_view", [3], [views, -1, classes]));
        back.Add(Node("Reshape", "logits_by_view", [CoreLogits, Prefix + "logits_by_view"], [Prefix + "logits_views"]));
        back.Add(Node("ReduceMean", "logits_mean", [Prefix + "logits_views"], [ClassifierOnnxExporter.LogitsName], Ints("axes", 0), Int("keepdims", 0)));
        inits.Add(Scalar(TemperatureName, (float)temperature));
        back.Add(Node("Div", "calibrate", [ClassifierOnnxExporter.LogitsName, TemperatureName], [Prefix + "calibrated"]));
        back.Add(Node("Softmax", "probs", [Prefix + "calibrated"], [ClassifierOnnxExporter.ProbsName], Int("axis", 1)));
        inits.Add(Longs(Prefix + "features_by_view", [3], [views, -1, Backbones.CntkResNet18.FeatureDim]));
        inits.Add(new TensorProto { Name = Prefix + "first_view", DataType = LongType, RawData = ByteString.CopyFrom(BitConverter.GetBytes(0L)) });
        back.Add(Node("Reshape", "features_by_view", [CoreFeatures, Prefix + "features_by_view"], [Prefix + "features_views"]));
        back.Add(Node("Gather", "features_first_view", [Prefix + "features_views", Prefix + "first_view"], [ClassifierOnnxExporter.FeaturesName], Int("axis", 0)));

        var nodes = front.Concat(graph.Node).Concat(back).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        graph.Initializer.AddRange(inits);
        graph.ValueInfo.Clear();
        graph.Input.Clear();
        graph.Input.Add(Value(WindowName, ByteType, Dim("N"), Dim(height), Dim(width), Dim(3)));
        graph.Output.Clear();
        graph.Output.Add(Value(ClassifierOnnxExporter.LogitsName, FloatType, Dim("N"), Dim(classes)));
        graph.Output.Add(Value(ClassifierOnnxExporter.ProbsName, FloatType, Dim("N"), Dim(classes)));
        graph.Output.Add(Value(ClassifierOnnxExporter.FeaturesName, FloatType, Dim("N"), Dim(Backbones.CntkResNet18.FeatureDim)));
        return proto;
    }

    /// <summary>The core of a self-contained graph: the format-1 classifier it wraps (input <c>input</c>, plain softmax <c>probs</c>).</summary>
    public static ModelProto Unwrap(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!TakesWindow(model)) throw new ArgumentException("The model does not take the window.", nameof(model));
        var proto = model.Clone();
        var graph = proto.Graph;
        long classes = graph.Output.Single(o => o.Name == ClassifierOnnxExporter.LogitsName).Type.TensorType.Shape.Dim[1].DimValue;
        var core = graph.Node.Where(n => !n.Name.StartsWith(Prefix, StringComparison.Ordinal)).ToList();
        foreach (var node in core)
        {
            Rename(node.Input, CoreLogits, ClassifierOnnxExporter.LogitsName);
            Rename(node.Input, CoreFeatures, ClassifierOnnxExporter.FeaturesName);
            Rename(node.Output, CoreLogits, ClassifierOnnxExporter.LogitsName);
            Rename(node.Output, CoreFeatures, ClassifierOnnxExporter.FeaturesName);
        }
        core.Add(new NodeProto { OpType = "Softmax", Name = CoreSoftmax, Input = { ClassifierOnnxExporter.LogitsName }, Output = { ClassifierOnnxExporter.ProbsName }, Attribute = { Int("axis", 1) } });
        var inits = graph.Initializer.Where(t => !t.Name.StartsWith(Prefix, StringComparison.Ordinal)).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(core);
        graph.Initializer.Clear();
        graph.Initializer.AddRange(inits);
        graph.ValueInfo.Clear();
        graph.Input.Clear();
        graph.Input.Add(Value(ClassifierOnnxExporter.InputName, FloatType, Dim("N"), Dim(3), Dim("H"), Dim("W")));
        graph.Output.Clear();
        graph.Output.Add(Value(ClassifierOnnxExporter.LogitsName, FloatType, Dim("N"), Dim(classes)));
        graph.Output.Add(Value(ClassifierOnnxExporter.ProbsName, FloatType, Dim("N"), Dim(classes)));
        graph.Output.Add(Value(ClassifierOnnxExporter.FeaturesName, FloatType, Dim("N"), Dim(Backbones.CntkResNet18.FeatureDim)));
        return proto;
    }

    /// <summary>The mean image a self-contained graph subtracts, [3, H, W] BGR planes.</summary>
    public static float[] MeanPlanes(ModelProto model)
    {
        var mean = model.Graph.Initializer.SingleOrDefault(t => t.Name == MeanName) ?? throw new InvalidDataException($"The model has no {MeanName}.");
        return ReadFloats(mean);
    }

    /// <summary>The temperature a self-contained graph divides the logits by.</summary>
    public static double Temperature(ModelProto model)
    {
        var t = model.Graph.Initializer.SingleOrDefault(i => i.Name == TemperatureName) ?? throw new InvalidDataException($"The model has no {TemperatureName}.");
        return ReadFloats(t).Single();
    }

    /// <summary>Sets the temperature constant of a self-contained graph (no change to an older one, which has none).</summary>
    public static void SetTemperature(ModelProto model, double temperature)
    {
        if (!TakesWindow(model)) return;
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature));
        var graph = model.Graph;
        int index = graph.Initializer.IndexOf(graph.Initializer.SingleOrDefault(i => i.Name == TemperatureName)
            ?? throw new InvalidDataException($"The model takes the window but has no {TemperatureName}."));
        graph.Initializer[index] = Scalar(TemperatureName, (float)temperature);
    }

    /// <summary>Whether the graph averages the four flip views (its view count is the first value of the logits' reshape).</summary>
    public static bool Flips(ModelProto model)
    {
        var shape = model.Graph.Initializer.SingleOrDefault(t => t.Name == Prefix + "logits_by_view") ?? throw new InvalidDataException("The model has no view reshape.");
        long views = shape.Int64Data.Count > 0 ? shape.Int64Data[0] : BitConverter.ToInt64(shape.RawData.Span[..8]);
        return views == 4;
    }

    private static float[] ReadFloats(TensorProto t)
    {
        if (t.DataType != FloatType) throw new InvalidDataException($"{t.Name} is not float.");
        if (t.FloatData.Count > 0) return t.FloatData.ToArray();
        var values = new float[t.RawData.Length / sizeof(float)];
        Buffer.BlockCopy(t.RawData.ToByteArray(), 0, values, 0, values.Length * sizeof(float));
        return values;
    }

    private static void Rename(Google.Protobuf.Collections.RepeatedField<string> names, string from, string to)
    {
        for (int i = 0; i < names.Count; i++) if (names[i] == from) names[i] = to;
    }

    private static ByteString FloatBytes(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(bytes);
        return ByteString.CopyFrom(bytes);
    }

    private static TensorProto Scalar(string name, float value) =>
        new() { Name = name, DataType = FloatType, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) };

    private static TensorProto Longs(string name, long[] dims, long[] values)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        var t = new TensorProto { Name = name, DataType = LongType, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = Prefix + name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static TensorShapeProto.Types.Dimension Dim(string symbol) => new() { DimParam = symbol };

    private static TensorShapeProto.Types.Dimension Dim(long value) => new() { DimValue = value };

    private static ValueInfoProto Value(string name, int type, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type, Shape = shape } } };
    }
}
