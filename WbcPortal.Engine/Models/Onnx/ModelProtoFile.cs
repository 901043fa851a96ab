using Google.Protobuf;
using Onnx;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>ONNX files on disk: written atomically, and a classifier's metadata changed in place without touching its graph.</summary>
public static class ModelProtoFile
{
    /// <summary>Writes <paramref name="proto"/> to <paramref name="path"/> atomically (temporary file beside it, flushed, then renamed over it).</summary>
    public static void Write(ModelProto proto, string path)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"No directory in {path}.", nameof(path));
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                proto.WriteTo(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Replaces the WbcPortal metadata of the classifier at <paramref name="path"/> with <paramref name="change"/> of it
    /// (a new temperature or reject threshold), keeping the weights byte for byte; in a self-contained graph the
    /// temperature constant follows the new metadata, so its <c>probs</c> stay the portal's answer. Atomic, so a reader
    /// sees the old model or the new one. Returns the metadata written.
    /// </summary>
    public static ClassifierOnnxMetadata RewriteMetadata(string path, Func<ClassifierOnnxMetadata, ClassifierOnnxMetadata> change)
    {
        ModelProto proto;
        using (var stream = File.OpenRead(path)) proto = ModelProto.Parser.ParseFrom(stream);
        var before = ClassifierOnnxMetadata.Read(proto);
        var metadata = change(before);
        if (metadata.Format != before.Format) throw new ArgumentException("The model's format is its graph's; a metadata change cannot alter it.", nameof(change));
        ClassifierOnnxExporter.SetMetadata(proto, metadata);
        Write(proto, path);
        return metadata;
    }
}
