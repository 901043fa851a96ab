using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>
/// Whether an ONNX file fits the portal as a classifier: its <see cref="Metadata"/> when it was readable, and one
/// sentence per reason it does not fit (none when it does).
/// </summary>
public sealed record ClassifierOnnxValidation(ClassifierOnnxMetadata? Metadata, IReadOnlyList<string> Problems)
{
    public bool Fits => Problems.Count == 0 && Metadata is not null;
}

/// <summary>
/// Checks an ONNX file from elsewhere before the portal serves it: that it is a self-contained ONNX model ONNX Runtime
/// loads, that its interface is the exporter's (one uint8 <c>window</c> [N, H, W, 3] of a self-contained model, or one float32
/// <c>input</c> [N, 3, H, W] of an older export, with a dynamic batch, a
/// <c>logits</c> output [N, classes]), that its <c>wbc.*</c> metadata says everything <see cref="Inference.OnnxClassifier"/>
/// needs to prepare images (labels, input size, a known backbone, calibration), and that one real run answers with
/// finite logits, one per label. Problems are collected, not thrown: the caller shows them all.
/// </summary>
public sealed class ClassifierOnnxValidator(OnnxSessionFactory sessions, BackboneRegistry backbones, long maxBytes = ClassifierOnnxValidator.DefaultMaxBytes)
{
    public const long DefaultMaxBytes = 512L * 1024 * 1024;

    /// <summary>The input sizes training allows (<see cref="Training.TrainingConfig"/>); a model outside them was not made for these images.</summary>
    public const int MinInputSize = 32, MaxInputSize = 1024;

    /// <summary>Images in the test run: more than one, so a batch dimension that only claims to be dynamic is caught.</summary>
    private const int TestBatch = 2;

    public long MaxBytes => maxBytes;

    public ClassifierOnnxValidation Validate(byte[] model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var problems = new List<string>();
        if (model.Length == 0) return Refused("The file is empty.");
        if (model.Length > maxBytes) return Refused($"The file is {FileSize(model.Length)}; models of up to {FileSize(maxBytes)} are imported.");
        if (Sniff(model) is { } other) return Refused(other);

        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(model);
        }
        catch (InvalidProtocolBufferException)
        {
            return Refused("The file is not an ONNX model: it does not parse as one.");
        }
        if (proto.Graph is null || proto.Graph.Node.Count == 0 || proto.IrVersion <= 0) return Refused("The file is not an ONNX model: it holds no graph.");
        // Loaded from bytes, external data would be looked for relative to the process's folder; served, beside the file.
        var external = proto.Graph.Initializer.FirstOrDefault(t => t.DataLocation == TensorProto.Types.DataLocation.External);
        if (external is not null)
        {
            string location = external.ExternalData.FirstOrDefault(e => e.Key == "location")?.Value ?? "?";
            return Refused($"The model keeps its weights in external data files ({location}); only self-contained .onnx files are imported.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var declared = new Declared();
        var metadata = ReadMetadata(proto, problems, declared);
        if (metadata is { Format: ClassifierOnnxMetadata.WindowFormat } && !WindowGraph.TakesWindow(proto))
            problems.Add($"The metadata says format {ClassifierOnnxMetadata.WindowFormat} (input '{WindowGraph.WindowName}') but the graph takes '{string.Join("', '", proto.Graph.Input.Select(i => i.Name))}'.");

        InferenceSession session;
        try
        {
            session = sessions.Create(model);
        }
        catch (OnnxRuntimeException ex)
        {
            problems.Add($"ONNX Runtime cannot load the model: {FirstLine(ex.Message)}.");
            return new ClassifierOnnxValidation(null, problems);
        }
        using (session)
        {
            bool interfaceFits = session.InputMetadata.ContainsKey(WindowGraph.WindowName)
                ? CheckWindowInterface(session, proto, metadata, declared, problems)
                : CheckInterface(session, declared, problems);
            if (metadata is null || !interfaceFits || problems.Count > 0) return new ClassifierOnnxValidation(problems.Count == 0 ? metadata : null, problems);
            cancellationToken.ThrowIfCancellationRequested();
            TestRun(session, metadata, problems);
        }
        return new ClassifierOnnxValidation(problems.Count == 0 ? metadata : null, problems);

        ClassifierOnnxValidation Refused(string problem) => new(null, [problem]);
    }

    /// <summary>Files people pick by mistake, named, rather than "does not parse".</summary>
    private static string? Sniff(byte[] bytes)
    {
        ReadOnlySpan<byte> b = bytes;
        if (b.StartsWith("PK\x03\x04"u8) || b.StartsWith("PK\x05\x06"u8)) return "The file is a zip archive, not an ONNX model; unpack it and import the .onnx file inside.";
        if (b.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])) return "The file is a JPEG image, not an ONNX model.";
        if (b.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47])) return "The file is a PNG image, not an ONNX model.";
        if (b.StartsWith("GIF8"u8)) return "The file is a GIF image, not an ONNX model.";
        if (b.StartsWith("%PDF"u8)) return "The file is a PDF document, not an ONNX model.";
        if (b.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return "The file is gzip-compressed, not an ONNX model; decompress it first.";
        return null;
    }

    /// <summary>What the metadata says of the interface, as far as it reads, so the graph is checked against it even when another key is wrong.</summary>
    private sealed class Declared
    {
        public int? Classes { get; set; }
        public int? Height { get; set; }
        public int? Width { get; set; }
    }

    /// <summary>The <c>wbc.*</c> metadata, each fault its own sentence; null when any was found.</summary>
    private ClassifierOnnxMetadata? ReadMetadata(ModelProto proto, List<string> problems, Declared declared)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in proto.MetadataProps) map[p.Key] = p.Value;
        if (!map.Keys.Any(k => k.StartsWith(ClassifierOnnxMetadata.ReservedPrefix, StringComparison.Ordinal)))
        {
            problems.Add("The model carries no wbc.* metadata (class labels, input size, backbone): it was not exported as a WbcPortal classifier, and images cannot be prepared for it without them.");
            return null;
        }
        int before = problems.Count;

        if (!map.TryGetValue(ClassifierOnnxMetadata.LabelsKey, out var labelsJson))
        {
            problems.Add($"The model has no {ClassifierOnnxMetadata.LabelsKey} metadata (its class names in output order).");
        }
        else
        {
            string[]? labels = null;
            try { labels = JsonSerializer.Deserialize<string[]>(labelsJson); }
            catch (JsonException) { }
            if (labels is null) problems.Add($"{ClassifierOnnxMetadata.LabelsKey} is not a JSON array of class names.");
            else
            {
                CheckLabels(labels, problems);
                declared.Classes = labels.Length;
            }
        }

        declared.Height = Size(ClassifierOnnxMetadata.InputHeightKey, "height");
        declared.Width = Size(ClassifierOnnxMetadata.InputWidthKey, "width");

        Number(ClassifierOnnxMetadata.TemperatureKey, v => v > 0 && double.IsFinite(v), "a positive number");
        Number(ClassifierOnnxMetadata.RejectThresholdKey, v => v is >= 0 and <= 1, "a probability from 0 to 1");
        Number(ClassifierOnnxMetadata.RejectTargetKey, v => v is >= 0 and <= 1, "an accuracy from 0 to 1");

        if (map.TryGetValue(ClassifierOnnxMetadata.CropKey, out var cropJson))
        {
            try
            {
                var crop = JsonSerializer.Deserialize<CellCropSpec>(cropJson, new JsonSerializerOptions(JsonSerializerDefaults.Web))
                    ?? throw new ArgumentException("it is empty.");
                crop.Validate();
            }
            catch (Exception ex) when (ex is JsonException or ArgumentException)
            {
                problems.Add($"{ClassifierOnnxMetadata.CropKey} is not a cell-crop setting this portal can apply: {ex.Message.TrimEnd('.')}.");
            }
        }

        // Absent means the exporter's first and default backbone, as the classifier reads it.
        if (map.TryGetValue(ClassifierOnnxMetadata.BackboneKey, out var backbone) && !backbones.All.Any(b => string.Equals(b.Id, backbone, StringComparison.OrdinalIgnoreCase)))
        {
            problems.Add($"The backbone '{backbone}' is unknown to this portal (it knows {string.Join(", ", backbones.All.Select(b => b.Id))}), so images cannot be prepared as the model expects.");
        }

        if (problems.Count > before) return null;
        try
        {
            var metadata = ClassifierOnnxMetadata.FromProperties(map);
            metadata.Validate();
            // The mean image and normalisation serving will use, made once here so a size it cannot handle is refused now.
            _ = backbones.Get(metadata.Backbone).CreatePreprocessor(metadata.InputHeight, metadata.InputWidth);
            return metadata;
        }
        catch (Exception ex) when (ex is InvalidDataException or JsonException or ArgumentException)
        {
            problems.Add($"The wbc.* metadata does not read as a classifier's: {ex.Message.TrimEnd('.')}.");
            return null;
        }

        int? Size(string key, string what)
        {
            if (!map.TryGetValue(key, out var text)) problems.Add($"The model has no {key} metadata (the input {what} it was trained at).");
            else if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)) problems.Add($"{key} is not a whole number of pixels: '{text}'.");
            else if (value is < MinInputSize or > MaxInputSize) problems.Add($"{key} is {value}; the input must be {MinInputSize} to {MaxInputSize} pixels each way, as training allows.");
            else return value;
            return null;
        }

        void Number(string key, Func<double, bool> valid, string what)
        {
            if (map.TryGetValue(key, out var text) && !(double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && valid(value)))
            {
                problems.Add($"{key} must be {what}, not '{text}'.");
            }
        }
    }

    private static void CheckLabels(string[] labels, List<string> problems)
    {
        if (labels.Length < 2)
        {
            problems.Add($"{ClassifierOnnxMetadata.LabelsKey} names {labels.Length} class{(labels.Length == 1 ? "" : "es")}; a classifier needs at least two.");
            return;
        }
        if (labels.Any(string.IsNullOrWhiteSpace)) problems.Add($"{ClassifierOnnxMetadata.LabelsKey} holds an empty class name.");
        foreach (var twice in labels.Where(l => !string.IsNullOrWhiteSpace(l)).GroupBy(l => l, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            problems.Add($"{ClassifierOnnxMetadata.LabelsKey} names '{twice.Key}' {twice.Count()} times; class names must be distinct.");
        }
        // The model list stores the labels comma-separated.
        foreach (var comma in labels.Where(l => l.Contains(',', StringComparison.Ordinal)))
        {
            problems.Add($"The class name '{comma}' holds a comma, which the portal's model list cannot store.");
        }
    }

    /// <summary>
    /// A self-contained model (format 2): one uint8 input 'window' [N, H, W, 3] with N dynamic and H, W the metadata's, metadata
    /// that says format 2, a temperature constant equal to the metadata's, and 'logits' and 'probs' [N, classes].
    /// </summary>
    private static bool CheckWindowInterface(InferenceSession session, ModelProto proto, ClassifierOnnxMetadata? metadata, Declared declared, List<string> problems)
    {
        int before = problems.Count;
        var inputs = session.InputMetadata;
        if (inputs.Count != 1) problems.Add($"The model takes {inputs.Count} inputs ({string.Join(", ", inputs.Keys)}); a classifier takes exactly one.");
        var window = inputs[WindowGraph.WindowName];
        var dims = window.IsTensor ? window.Dimensions : [];
        if (!window.IsTensor || window.ElementDataType != TensorElementType.UInt8)
        {
            problems.Add($"The input '{WindowGraph.WindowName}' is {Describe(window)}, not a uint8 tensor of RGB pixels.");
        }
        else if (dims.Length != 4 || dims[3] != 3)
        {
            problems.Add($"The input '{WindowGraph.WindowName}' has shape {Shape(window)}; a self-contained classifier takes [N, H, W, 3].");
        }
        else
        {
            if (dims[0] >= 0) problems.Add($"The input's batch dimension is fixed at {dims[0]}; it must be dynamic, because the portal classifies images in batches.");
            if (declared is { Height: int height, Width: int width } && (dims[1] != height || dims[2] != width))
                problems.Add($"The input is {Dim(window, 2)}×{Dim(window, 1)} pixels (width × height) but the metadata says {width}×{height}.");
        }
        if (metadata is not null)
        {
            if (metadata.Format != ClassifierOnnxMetadata.WindowFormat)
                problems.Add($"The model takes the window (format {ClassifierOnnxMetadata.WindowFormat}) but its {ClassifierOnnxMetadata.FormatKey} metadata says {metadata.Format}.");
            try
            {
                double inGraph = WindowGraph.Temperature(proto);
                if (Math.Abs(inGraph - metadata.Temperature) > 1e-6 * metadata.Temperature)
                    problems.Add($"The graph's temperature {inGraph.ToString("R", CultureInfo.InvariantCulture)} is not the metadata's {metadata.Temperature.ToString("R", CultureInfo.InvariantCulture)}: its probs would not be the portal's answer.");
            }
            catch (InvalidDataException ex)
            {
                problems.Add($"The model takes the window but {ex.Message.TrimEnd('.')}.");
            }
        }
        var outputs = session.OutputMetadata;
        foreach (var name in new[] { ClassifierOnnxExporter.LogitsName, ClassifierOnnxExporter.ProbsName })
        {
            if (!outputs.TryGetValue(name, out var output)) problems.Add($"The model has no output named '{name}' (its outputs: {string.Join(", ", outputs.Keys.Select(k => $"'{k}'"))}).");
            else if (!output.IsTensor || output.ElementDataType != TensorElementType.Float || output.Dimensions.Length != 2) problems.Add($"The output '{name}' is not a float32 tensor [N, classes].");
            else if (declared.Classes is int classes && output.Dimensions[1] >= 0 && output.Dimensions[1] != classes)
                problems.Add($"The output '{name}' has {output.Dimensions[1]} classes but {ClassifierOnnxMetadata.LabelsKey} names {classes}.");
        }
        return problems.Count == before;
    }

    /// <summary>One float32 input 'input' [N, 3, H, W] with N dynamic and H, W the metadata's (or dynamic); a float32 'logits' [N, classes].</summary>
    private static bool CheckInterface(InferenceSession session, Declared declared, List<string> problems)
    {
        int before = problems.Count;
        var inputs = session.InputMetadata;
        if (inputs.Count != 1 || !inputs.ContainsKey(ClassifierOnnxExporter.InputName))
        {
            problems.Add(inputs.ContainsKey(ClassifierOnnxExporter.InputName)
                ? $"The model takes {inputs.Count} inputs ({string.Join(", ", inputs.Keys)}); a classifier takes exactly one, named '{ClassifierOnnxExporter.InputName}'."
                : $"The model has no input named '{ClassifierOnnxExporter.InputName}' (its input{(inputs.Count == 1 ? " is" : "s are")} {string.Join(", ", inputs.Keys.Select(k => $"'{k}'"))}); a classifier takes one, named '{ClassifierOnnxExporter.InputName}'.");
        }
        if (inputs.TryGetValue(ClassifierOnnxExporter.InputName, out var input))
        {
            var dims = input.IsTensor ? input.Dimensions : [];
            if (!input.IsTensor || input.ElementDataType != TensorElementType.Float)
            {
                problems.Add($"The input '{ClassifierOnnxExporter.InputName}' is {Describe(input)}, not a float32 tensor.");
            }
            else if (dims.Length != 4)
            {
                problems.Add($"The input '{ClassifierOnnxExporter.InputName}' has shape {Shape(input)}; a classifier takes [N, 3, H, W].");
            }
            else
            {
                if (dims[0] >= 0) problems.Add($"The input's batch dimension is fixed at {dims[0]}; it must be dynamic, because the portal classifies images in batches (and four views of each with test-time flips).");
                if (dims[1] != 3) problems.Add($"The input has {(dims[1] < 0 ? "a dynamic number of" : dims[1].ToString(CultureInfo.InvariantCulture))} channels; a classifier takes 3 (RGB).");
                if (declared is { Height: int height, Width: int width } && (dims[2] >= 0 && dims[2] != height || dims[3] >= 0 && dims[3] != width))
                {
                    problems.Add($"The input is fixed at {Dim(input, 3)}×{Dim(input, 2)} pixels (width × height) but the metadata says {width}×{height}.");
                }
            }
        }

        var outputs = session.OutputMetadata;
        if (!outputs.TryGetValue(ClassifierOnnxExporter.LogitsName, out var logits))
        {
            problems.Add($"The model has no output named '{ClassifierOnnxExporter.LogitsName}' (its outputs: {string.Join(", ", outputs.Keys.Select(k => $"'{k}'"))}).");
        }
        else if (!logits.IsTensor || logits.ElementDataType != TensorElementType.Float)
        {
            problems.Add($"The output '{ClassifierOnnxExporter.LogitsName}' is {Describe(logits)}, not a float32 tensor.");
        }
        else if (logits.Dimensions.Length != 2)
        {
            problems.Add($"The output '{ClassifierOnnxExporter.LogitsName}' has shape {Shape(logits)}; a classifier's logits are [N, classes].");
        }
        else if (declared.Classes is int classes && logits.Dimensions[1] >= 0 && logits.Dimensions[1] != classes)
        {
            problems.Add($"The output '{ClassifierOnnxExporter.LogitsName}' has {logits.Dimensions[1]} classes but {ClassifierOnnxMetadata.LabelsKey} names {classes}.");
        }
        return problems.Count == before;
    }

    /// <summary>One run on blank images of the metadata's size: it must answer finite logits, one per label and image.</summary>
    private static void TestRun(InferenceSession session, ClassifierOnnxMetadata metadata, List<string> problems)
    {
        int classes = metadata.Labels.Count;
        var blank = session.InputMetadata.ContainsKey(WindowGraph.WindowName)
            ? NamedOnnxValue.CreateFromTensor(WindowGraph.WindowName, new DenseTensor<byte>([TestBatch, metadata.InputHeight, metadata.InputWidth, 3]))
            : NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, new DenseTensor<float>([TestBatch, 3, metadata.InputHeight, metadata.InputWidth]));
        float[] logits;
        int[] shape;
        try
        {
            using var results = session.Run([blank], [ClassifierOnnxExporter.LogitsName]);
            var tensor = results.First().AsTensor<float>();
            logits = tensor.ToArray();
            shape = tensor.Dimensions.ToArray();
        }
        catch (OnnxRuntimeException ex)
        {
            problems.Add($"A test run on {TestBatch} blank {metadata.InputWidth}×{metadata.InputHeight} images failed: {FirstLine(ex.Message)}.");
            return;
        }
        if (shape.Length != 2 || shape[0] != TestBatch || shape[1] != classes)
        {
            problems.Add($"A test run on {TestBatch} blank images answered logits of shape [{string.Join(", ", shape)}], not [{TestBatch}, {classes}] ({classes} labels).");
        }
        else if (logits.Any(v => !float.IsFinite(v)))
        {
            problems.Add("A test run on blank images answered non-finite logits (NaN or infinity).");
        }
    }

    private static string Describe(NodeMetadata node) => node.IsTensor
        ? $"a {node.ElementDataType.ToString().ToLowerInvariant()} tensor"
        : $"a {node.OnnxValueType.ToString().Replace("ONNX_TYPE_", "", StringComparison.Ordinal).ToLowerInvariant()}";

    private static string Dim(NodeMetadata node, int axis) => node.Dimensions[axis] >= 0
        ? node.Dimensions[axis].ToString(CultureInfo.InvariantCulture)
        : node.SymbolicDimensions[axis] is { Length: > 0 } s ? s : "?";

    private static string Shape(NodeMetadata node) => $"[{string.Join(", ", Enumerable.Range(0, node.Dimensions.Length).Select(i => Dim(node, i)))}]";

    private static string FirstLine(string message)
    {
        string line = message.Split('\n', 2)[0].Trim().TrimEnd('.');
        // ORT prefixes its messages with a bracketed status code.
        if (line.StartsWith('[') && line.IndexOf("] ", StringComparison.Ordinal) is int end and > 0) line = line[(end + 2)..];
        return line.Length > 300 ? line[..300] + "…" : line;
    }

    /// <summary>A file size as people read it: KB under a megabyte, else MB.</summary>
    public static string FileSize(long bytes) => bytes < 1048576
        ? Math.Ceiling(bytes / 1024.0).ToString("0", CultureInfo.InvariantCulture) + " KB"
        : (bytes / 1048576.0).ToString(bytes < 10 * 1048576 ? "0.0" : "0", CultureInfo.InvariantCulture) + " MB";
}
