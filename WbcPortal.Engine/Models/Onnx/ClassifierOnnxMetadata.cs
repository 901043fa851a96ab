using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace WbcPortal.Engine.Models.Onnx;

/// <summary>
/// What inference needs besides the graph, stored in the ONNX file's <c>metadata_props</c>: the class
/// names in output order, the input size the model was trained at, and free-form key/values (run id,
/// config json, ...). Keys starting with <see cref="ReservedPrefix"/> are the exporter's own.
/// </summary>
/// <param name="Labels">Class names, in the order of the <c>logits</c>/<c>probs</c> columns.</param>
/// <param name="InputHeight">Height of the preprocessed input the model was trained at.</param>
/// <param name="InputWidth">Width of the preprocessed input the model was trained at.</param>
/// <param name="Properties">Free-form key/values; null for none.</param>
public sealed record ClassifierOnnxMetadata(
    IReadOnlyList<string> Labels,
    int InputHeight,
    int InputWidth,
    IReadOnlyDictionary<string, string>? Properties = null)
{
    public const string ReservedPrefix = "wbc.";
    public const string LabelsKey = "wbc.labels";
    public const string InputHeightKey = "wbc.input_height";
    public const string InputWidthKey = "wbc.input_width";

    /// <summary>The free-form key/values (never null).</summary>
    public IReadOnlyDictionary<string, string> Extra => Properties ?? new Dictionary<string, string>();

    public void Validate()
    {
        if (Labels is null || Labels.Count < 2) throw new ArgumentException("A classifier needs at least two labels.");
        if (Labels.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("Labels must not be empty.");
        if (Labels.Distinct(StringComparer.Ordinal).Count() != Labels.Count) throw new ArgumentException("Labels must be distinct.");
        if (InputHeight < 1 || InputWidth < 1) throw new ArgumentException("The input size must be positive.");
        foreach (var key in Extra.Keys)
        {
            if (string.IsNullOrEmpty(key)) throw new ArgumentException("Metadata keys must not be empty.");
            if (key.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Metadata key {key} uses the reserved prefix {ReservedPrefix}.");
            }
        }
    }

    /// <summary>All key/values as stored in <c>metadata_props</c>.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ToProperties()
    {
        Validate();
        var list = new List<KeyValuePair<string, string>>
        {
            new(LabelsKey, JsonSerializer.Serialize(Labels.ToArray())),
            new(InputHeightKey, InputHeight.ToString(CultureInfo.InvariantCulture)),
            new(InputWidthKey, InputWidth.ToString(CultureInfo.InvariantCulture)),
        };
        list.AddRange(Extra.OrderBy(p => p.Key, StringComparer.Ordinal));
        return list;
    }

    /// <summary>Reads the metadata of an exported classifier from <c>metadata_props</c>.</summary>
    public static ClassifierOnnxMetadata FromProperties(IEnumerable<KeyValuePair<string, string>> properties)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in properties) map[key] = value;
        string Require(string key) => map.TryGetValue(key, out var v)
            ? v
            : throw new InvalidDataException($"The ONNX model has no {key} metadata; it was not exported as a WbcPortal classifier.");

        var labels = JsonSerializer.Deserialize<string[]>(Require(LabelsKey))
            ?? throw new InvalidDataException($"{LabelsKey} is not a JSON array of strings.");
        int height = ParseSize(Require(InputHeightKey), InputHeightKey);
        int width = ParseSize(Require(InputWidthKey), InputWidthKey);
        var extra = map.Where(p => !p.Key.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        return new ClassifierOnnxMetadata(labels, height, width, extra);
    }

    public static ClassifierOnnxMetadata Read(InferenceSession session) =>
        FromProperties(session.ModelMetadata.CustomMetadataMap);

    public static ClassifierOnnxMetadata Read(byte[] model) => Read(ModelProto.Parser.ParseFrom(model));

    public static ClassifierOnnxMetadata Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Read(ModelProto.Parser.ParseFrom(stream));
    }

    public static ClassifierOnnxMetadata Read(ModelProto model) =>
        FromProperties(model.MetadataProps.Select(p => new KeyValuePair<string, string>(p.Key, p.Value)));

    private static int ParseSize(string value, string key) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v
            : throw new InvalidDataException($"{key} is not a positive integer: {value}.");
}
