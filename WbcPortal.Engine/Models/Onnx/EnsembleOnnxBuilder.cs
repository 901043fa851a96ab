using Google.Protobuf;
using Onnx;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>
/// One deployable model from several exported classifiers of one shape (a cross-validation's fold models): one ONNX graph that
/// feeds the same input to every member and averages their logits (and their features); probabilities are the softmax of the
/// averaged logits. Each member's nodes and weights are renamed with a prefix of their own, so the graph holds them side by side;
/// the interface (input, logits, probs, features) is the exporter's, so everything that serves a model serves the ensemble. The
/// metadata is given by the caller (labels, input size, crop and flips must be the members'; temperature and threshold are the
/// ensemble's own, fitted afterwards). Self-contained members (format 2) give a self-contained ensemble: their cores are
/// combined and wrapped once in the same window front and calibrated back (<see cref="WindowGraph"/>), with their mean image.
/// </summary>
public static class EnsembleOnnxBuilder
{
    public static ModelProto Build(IReadOnlyList<ModelProto> members, ClassifierOnnxMetadata metadata)
    {
        if (members.Count < 2) throw new ArgumentException("An ensemble needs at least two models.");
        var windowed = members.Where(WindowGraph.TakesWindow).ToList();
        if (windowed.Count == 0) return BuildCore(members, metadata with { Format = ClassifierOnnxMetadata.PreparedFormat });
        var mean = WindowGraph.MeanPlanes(windowed[0]);
        if (windowed.Skip(1).Any(m => !WindowGraph.MeanPlanes(m).AsSpan().SequenceEqual(mean)))
            throw new ArgumentException("The models subtract different mean images (another backbone or input size); they cannot share one input.");
        var core = BuildCore(members.Select(m => WindowGraph.TakesWindow(m) ? WindowGraph.Unwrap(m) : m).ToList(), metadata with { Format = ClassifierOnnxMetadata.PreparedFormat });
        metadata = metadata with { Format = ClassifierOnnxMetadata.WindowFormat };
        metadata.Validate();
        var proto = WindowGraph.Wrap(core, mean, metadata.InputHeight, metadata.InputWidth, metadata.TestTimeAugmentation, metadata.Temperature);
        ClassifierOnnxExporter.SetMetadata(proto, metadata);
        return proto;
    }

    private static ModelProto BuildCore(IReadOnlyList<ModelProto> members, ClassifierOnnxMetadata metadata)
    {
        metadata.Validate();
        var first = members[0];
        var proto = new ModelProto
        {
            IrVersion = first.IrVersion,
            ProducerName = "WbcPortal",
            ProducerVersion = typeof(EnsembleOnnxBuilder).Assembly.GetName().Version?.ToString() ?? "",
            DocString = $"WbcPortal ensemble of {members.Count} white blood cell classifiers (logits averaged).",
            Graph = new GraphProto { Name = "ensemble" },
        };
        proto.OpsetImport.AddRange(first.OpsetImport);
        var graph = proto.Graph;
        graph.Input.Add(first.Graph.Input.Single(i => i.Name == ClassifierOnnxExporter.InputName));
        for (int k = 0; k < members.Count; k++)
        {
            var member = members[k].Graph;
            if (member.Input.Count != 1 || member.Input[0].Name != ClassifierOnnxExporter.InputName)
                throw new ArgumentException($"Model {k + 1} is not a classifier exported by this portal (its input is not '{ClassifierOnnxExporter.InputName}').");
            string prefix = $"m{k}_";
            string Rename(string name) => name.Length == 0 || name == ClassifierOnnxExporter.InputName ? name : prefix + name;
            foreach (var init in member.Initializer)
            {
                var copy = init.Clone();
                copy.Name = Rename(init.Name);
                graph.Initializer.Add(copy);
            }
            foreach (var node in member.Node)
            {
                var copy = node.Clone();
                copy.Name = prefix + node.Name;
                copy.Input.Clear();
                copy.Input.AddRange(node.Input.Select(Rename));
                copy.Output.Clear();
                copy.Output.AddRange(node.Output.Select(Rename));
                graph.Node.Add(copy);
            }
        }
        var scale = new TensorProto { Name = "ensemble_scale", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(BitConverter.GetBytes(1f / members.Count)) };
        graph.Initializer.Add(scale);
        foreach (var output in new[] { ClassifierOnnxExporter.LogitsName, ClassifierOnnxExporter.FeaturesName })
        {
            var sum = new NodeProto { OpType = "Sum", Name = $"ensemble_sum_{output}" };
            sum.Input.AddRange(Enumerable.Range(0, members.Count).Select(k => $"m{k}_{output}"));
            sum.Output.Add($"ensemble_sum_{output}");
            var mean = new NodeProto { OpType = "Mul", Name = $"ensemble_mean_{output}" };
            mean.Input.Add($"ensemble_sum_{output}");
            mean.Input.Add(scale.Name);
            mean.Output.Add(output);
            graph.Node.Add(sum);
            graph.Node.Add(mean);
        }
        var softmax = new NodeProto { OpType = "Softmax", Name = "ensemble_softmax" };
        softmax.Input.Add(ClassifierOnnxExporter.LogitsName);
        softmax.Output.Add(ClassifierOnnxExporter.ProbsName);
        softmax.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(softmax);
        foreach (var name in new[] { ClassifierOnnxExporter.LogitsName, ClassifierOnnxExporter.ProbsName, ClassifierOnnxExporter.FeaturesName })
            graph.Output.Add(first.Graph.Output.Single(o => o.Name == name));
        foreach (var (key, value) in metadata.ToProperties())
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return proto;
    }
}
