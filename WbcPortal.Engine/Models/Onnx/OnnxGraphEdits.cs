using Onnx;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>Small, checked edits to ONNX graphs (the pretrained graph has a fixed batch of 1).</summary>
public static class OnnxGraphEdits
{
    /// <summary>Makes the first dimension of every graph input and output symbolic ("N").</summary>
    public static ModelProto WithDynamicBatch(ModelProto model)
    {
        var copy = model.Clone();
        // Intermediate shapes recorded at export would contradict the new batch size.
        copy.Graph.ValueInfo.Clear();
        foreach (var value in copy.Graph.Input.Concat(copy.Graph.Output))
        {
            var dims = value.Type?.TensorType?.Shape?.Dim;
            if (dims is null || dims.Count == 0) continue;
            dims[0].ClearValue();
            dims[0].DimParam = "N";
        }
        return copy;
    }

    public static ModelProto Load(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
}
