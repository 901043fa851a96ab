using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using WbcPortal.Engine.Imaging.CellCrop;

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
/// <param name="Crop">The cell crop the model was trained with; null or disabled for whole images.</param>
/// <param name="Temperature">Calibration temperature fitted on the validation part: probabilities are softmax(logits / T). In format 2 the graph holds it as the constant <c>wbc_temperature</c> and its <c>probs</c> output is calibrated; in format 1 <c>probs</c> is uncalibrated.</param>
/// <param name="TestTimeAugmentation">Predictions average the logits of the image and its three flips.</param>
/// <param name="Backbone">The backbone id, whose preprocessing (mean image) the input needs.</param>
/// <param name="RejectThreshold">Calibrated top probability under which the model answers "Unidentified" (0: it always decides); fitted on the validation part.</param>
/// <param name="RejectTargetAccuracy">The accuracy on decided validation cells the threshold was fitted for (0: not recorded).</param>
/// <param name="Format">The graph's interface: 1, an older export taking the prepared float tensor; 2 (<see cref="WindowFormat"/>), a self-contained graph taking the window's 8-bit RGB.</param>
public sealed record ClassifierOnnxMetadata(
    IReadOnlyList<string> Labels,
    int InputHeight,
    int InputWidth,
    IReadOnlyDictionary<string, string>? Properties = null,
    CellCropSpec? Crop = null,
    double Temperature = 1,
    bool TestTimeAugmentation = false,
    string Backbone = "resnet18-imagenet",
    double RejectThreshold = 0,
    double RejectTargetAccuracy = 0,
    int Format = ClassifierOnnxMetadata.PreparedFormat)
{
    /// <summary>The older interface: <c>input</c> float [N, 3, H, W], BGR minus the mean image, one row per view; <c>probs</c> uncalibrated.</summary>
    public const int PreparedFormat = 1;
    /// <summary>The self-contained interface: <c>window</c> uint8 [N, H, W, 3] RGB; views, mean, temperature and softmax inside.</summary>
    public const int WindowFormat = 2;
    public const string FormatKey = "wbc.format";
    /// <summary>The input in words, for readers of the metadata alone.</summary>
    public const string InputKey = "wbc.input";

    public const string RejectThresholdKey = "wbc.reject_threshold";
    public const string RejectTargetKey = "wbc.reject_target";
    public const string TemperatureKey = "wbc.temperature";
    public const string TtaKey = "wbc.tta";
    public const string BackboneKey = "wbc.backbone";
    /// <summary>The cell crop the model was trained with (inference must cut the same window); absent when it saw whole images.</summary>
    public const string CropKey = "wbc.crop";
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
        if (!(Temperature > 0) || double.IsInfinity(Temperature)) throw new ArgumentException("The temperature must be a positive number.");
        if (!(RejectThreshold >= 0 && RejectThreshold <= 1)) throw new ArgumentException("The reject threshold must be a probability in [0, 1].");
        if (!(RejectTargetAccuracy >= 0 && RejectTargetAccuracy <= 1)) throw new ArgumentException("The reject target accuracy must be in [0, 1].");
        if (Format is not (PreparedFormat or WindowFormat)) throw new ArgumentException($"Unknown model format {Format}.");
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
            new(FormatKey, Format.ToString(CultureInfo.InvariantCulture)),
            new(InputKey, Format == WindowFormat
                ? $"window: uint8 [N, {InputHeight}, {InputWidth}, 3], NHWC, RGB, the window of wbc.crop.*; logits are view-averaged, probs = softmax(logits / wbc.temperature)"
                : $"input: float32 [N*views, 3, {InputHeight}, {InputWidth}], NCHW, BGR minus the backbone's mean image, views = 4 with wbc.tta (none, left-right, top-bottom, both; logits averaged), probs uncalibrated"),
            new(LabelsKey, JsonSerializer.Serialize(Labels.ToArray())),
            new(InputHeightKey, InputHeight.ToString(CultureInfo.InvariantCulture)),
            new(InputWidthKey, InputWidth.ToString(CultureInfo.InvariantCulture)),
        };
        if (Crop is { Enabled: true }) list.Add(new(CropKey, JsonSerializer.Serialize(Crop, CropJson)));
        list.AddRange(WindowRule.Properties(Crop ?? CellCropSpec.None));
        list.Add(new(TemperatureKey, Temperature.ToString("R", CultureInfo.InvariantCulture)));
        if (TestTimeAugmentation) list.Add(new(TtaKey, "flips"));
        list.Add(new(BackboneKey, Backbone));
        if (RejectThreshold > 0) list.Add(new(RejectThresholdKey, RejectThreshold.ToString("R", CultureInfo.InvariantCulture)));
        if (RejectTargetAccuracy > 0) list.Add(new(RejectTargetKey, RejectTargetAccuracy.ToString("R", CultureInfo.InvariantCulture)));
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
        var crop = map.TryGetValue(CropKey, out var cropJson)
            ? JsonSerializer.Deserialize<CellCropSpec>(cropJson, CropJson) ?? throw new InvalidDataException($"{CropKey} is empty.")
            : CellCropSpec.None;
        double temperature = map.TryGetValue(TemperatureKey, out var t)
            ? double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double tv) && tv > 0 ? tv : throw new InvalidDataException($"{TemperatureKey} is not a positive number: {t}.")
            : 1;
        double reject = map.TryGetValue(RejectThresholdKey, out var r)
            ? double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out double rv) && rv >= 0 && rv <= 1 ? rv : throw new InvalidDataException($"{RejectThresholdKey} is not a probability: {r}.")
            : 0;
        double target = map.TryGetValue(RejectTargetKey, out var rt)
            ? double.TryParse(rt, NumberStyles.Float, CultureInfo.InvariantCulture, out double tv2) && tv2 >= 0 && tv2 <= 1 ? tv2 : throw new InvalidDataException($"{RejectTargetKey} is not a probability: {rt}.")
            : 0;
        int format = map.TryGetValue(FormatKey, out var f)
            ? int.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out int fv) && fv is PreparedFormat or WindowFormat
                ? fv
                : throw new InvalidDataException($"{FormatKey} is {f}; this portal reads formats {PreparedFormat} and {WindowFormat}.")
            : PreparedFormat;
        return new ClassifierOnnxMetadata(labels, height, width, extra, crop, temperature, map.ContainsKey(TtaKey),
            map.TryGetValue(BackboneKey, out var backbone) ? backbone : "resnet18-imagenet", reject, target, format);
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

    private static readonly JsonSerializerOptions CropJson = new(JsonSerializerDefaults.Web);

    private static int ParseSize(string value, string key) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v
            : throw new InvalidDataException($"{key} is not a positive integer: {value}.");
}
