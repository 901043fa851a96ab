using System.Text.Json;
using System.Text.Json.Serialization;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Classifiers;

namespace WbcPortal.Engine.Training;

public enum OptimizerKind
{
    Adam,
    AdamW,
    Sgd,
}

public enum LrSchedule
{
    Constant,
    Cosine,
}

/// <summary>One training round: the study's round 1 trains the head on a frozen backbone, round 2 fine-tunes at a very low rate.</summary>
public sealed record RoundConfig
{
    public int Epochs { get; init; }
    public double LearningRate { get; init; }
    /// <summary>Backbone stages that train in this round (stem, layer1..layer4); empty freezes the backbone.</summary>
    public IReadOnlyList<string> UnfrozenStages { get; init; } = [];
    /// <summary>
    /// Discriminative learning rates by stage (1: one rate for all): the head trains at the round's rate, layer4 at this
    /// factor of it, layer3 at its square, and so on down to the stem, so the general early filters move least.
    /// </summary>
    public double StageRateDecay { get; init; } = 1;
}

/// <summary>Augmentation generated at train time.</summary>
public sealed record AugmentationConfig
{
    public bool Flips { get; init; } = true;
    public double RotationDegrees { get; init; } = 20;
    public double Shift { get; init; } = 0.1;
    /// <summary>Brightness and contrast jitter, as a fraction (0.1 = ±10 %).</summary>
    public double ColorJitter { get; init; } = 0.1;
    /// <summary>Zoom in or out by up to this fraction (0.1 = ±10 %).</summary>
    public double Scale { get; init; }
    /// <summary>Each stain's amount (haematoxylin, eosin) scaled by up to ± this fraction in the stains' own colour space (0: off).</summary>
    public double StainJitter { get; init; }
    /// <summary>Share of training views blurred a little (a Gaussian of 0.3-1.2 px; 0: never).</summary>
    public double Blur { get; init; }
    /// <summary>Share of training views re-encoded as JPEG at quality 40-90 (0: never).</summary>
    public double Jpeg { get; init; }
}

/// <summary>Everything that defines a run; saved with it, exported and imported as JSON, and taken by <c>train --config</c>.</summary>
public sealed record TrainingConfig
{
    public string Backbone { get; init; } = "resnet18-imagenet";
    public int InputHeight { get; init; } = 120;
    public int InputWidth { get; init; } = 160;
    /// <summary>Whole image, or a window centred on the white cell (also applied at inference: it travels in the ONNX metadata).</summary>
    public CellCropSpec Crop { get; init; } = CellCropSpec.None;
    public HeadSpec Head { get; init; } = HeadSpec.Linear;
    public RoundConfig Round1 { get; init; } = new() { Epochs = 2, LearningRate = 1e-3 };
    public RoundConfig Round2 { get; init; } = new() { Epochs = 2, LearningRate = 1e-4, UnfrozenStages = ["stem", "layer1", "layer2", "layer3", "layer4"] };
    public int BatchSize { get; init; } = 32;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    public double WeightDecay { get; init; }
    public LrSchedule Schedule { get; init; } = LrSchedule.Constant;
    public AugmentationConfig Augmentation { get; init; } = new();
    /// <summary>What a fine-tune epoch passes over: every stored copy, or a set number of views per original.</summary>
    public SamplingConfig Sampling { get; init; } = new();
    public bool ClassWeighting { get; init; }
    /// <summary>Mixup's α (0: off): a fine-tune batch is mixed with itself shuffled by λ ~ Beta(α, α), the loss mixed by the same λ.</summary>
    public double Mixup { get; init; }
    /// <summary>Label smoothing of the training loss (0: none): the target puts this share evenly over all classes, against confident errors on whole originals.</summary>
    public double LabelSmoothing { get; init; }
    /// <summary>Stop a round when validation accuracy has not improved for this many epochs (0: never).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>Round 1 with a frozen backbone trains the head on features computed once (no augmentation in that round): seconds instead of minutes.</summary>
    public bool CacheFrozenFeatures { get; init; } = true;
    /// <summary>At the end of a round with early stopping, go back to the weights of the best validation epoch.</summary>
    public bool RestoreBestEpoch { get; init; } = true;
    /// <summary>The exported model averages the logits of the image and its three flips (its evaluation at the end of the run and every later prediction); the trainer's own per-epoch and per-round figures do not (4x cheaper).</summary>
    public bool TestTimeAugmentation { get; init; }
    public int Seed { get; init; } = 42;
    /// <summary>
    /// The accuracy the model must reach on the cells it decides, on the validation part (each original counted once):
    /// the reject threshold stored in the model is the lowest that reaches it, and under it the model answers "Unidentified". 1 never guesses wrong on validation; the lower, the fewer cells left unidentified.
    /// </summary>
    public double RejectTargetAccuracy { get; init; } = Evaluation.Reject.RejectRule.DefaultTargetAccuracy;
    /// <summary>auto, cpu or cuda.</summary>
    public string Device { get; init; } = "auto";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainingConfig FromJson(string json)
    {
        TrainingConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<TrainingConfig>(json, Json);
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"Not a valid training configuration: {ex.Message}", ex);
        }
        if (config is null) throw new ArgumentException("The training configuration is empty.");
        config.Validate();
        return config;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first wrong setting.</summary>
    public void Validate()
    {
        string[] stages = ["stem", "layer1", "layer2", "layer3", "layer4"];
        if (InputHeight is < 32 or > 1024 || InputWidth is < 32 or > 1024) throw new ArgumentException("Input size must be between 32 and 1024 pixels each way.");
        Head.Validate();
        (Crop ?? throw new ArgumentException("Cell crop settings are missing.")).Validate();
        foreach (var (name, round) in new[] { ("Round 1", Round1), ("Round 2", Round2) })
        {
            if (round.Epochs is < 0 or > 500) throw new ArgumentException($"{name}: epochs must be 0 to 500.");
            if (round.Epochs > 0 && round.LearningRate is <= 0 or > 1) throw new ArgumentException($"{name}: the learning rate must be above 0 and at most 1.");
            var unknown = round.UnfrozenStages.Except(stages).ToList();
            if (unknown.Count > 0) throw new ArgumentException($"{name}: unknown stage(s) {string.Join(", ", unknown)}; use {string.Join(", ", stages)}.");
            if (round.StageRateDecay is <= 0 or > 1 || double.IsNaN(round.StageRateDecay)) throw new ArgumentException($"{name}: the stage rate decay must be above 0 and at most 1 (1: one rate for every stage).");
        }
        if (Round1.Epochs + Round2.Epochs == 0) throw new ArgumentException("At least one epoch is needed.");
        if (BatchSize is < 1 or > 1024) throw new ArgumentException("Batch size must be 1 to 1024.");
        if (WeightDecay is < 0 or > 1) throw new ArgumentException("Weight decay must be 0 to 1.");
        if (Augmentation.RotationDegrees is < 0 or > 180 || Augmentation.Shift is < 0 or > 0.5 || Augmentation.ColorJitter is < 0 or > 1 || Augmentation.Scale is < 0 or > 0.5)
            throw new ArgumentException("Augmentation: rotation 0-180 degrees, shift 0-0.5, colour jitter 0-1, scale 0-0.5.");
        if (Augmentation.StainJitter is < 0 or > 0.5 || Augmentation.Blur is < 0 or > 1 || Augmentation.Jpeg is < 0 or > 1)
            throw new ArgumentException("Augmentation: stain jitter 0-0.5, blur and JPEG shares 0-1.");
        if (Mixup is < 0 or > 2 || double.IsNaN(Mixup)) throw new ArgumentException("Mixup must be 0 (off) to 2.");
        (Sampling ?? throw new ArgumentException("Sampling settings are missing.")).Validate();
        if (LabelSmoothing is < 0 or > 0.5 || double.IsNaN(LabelSmoothing)) throw new ArgumentException("Label smoothing must be 0 to 0.5.");
        if (EarlyStoppingPatience is < 0 or > 100) throw new ArgumentException("Early-stopping patience must be 0 to 100.");
        if (RejectTargetAccuracy is < 0.5 or > 1 || double.IsNaN(RejectTargetAccuracy)) throw new ArgumentException("The target accuracy of decided cells must be 0.5 to 1.");
        if (Device is not ("auto" or "cpu" or "cuda")) throw new ArgumentException("Device must be auto, cpu or cuda.");
    }
}

/// <summary>Named starting points for the training form and <c>train --preset</c>.</summary>
public static class TrainingPresets
{
    public static IReadOnlyDictionary<string, TrainingConfig> All { get; } = new Dictionary<string, TrainingConfig>(StringComparer.OrdinalIgnoreCase)
    {
        // The best this 2-core CPU reaches in about 30 minutes (see the README's training figures): a 112x112 window on
        // the white cell, head trained on cached frozen features, then the whole network fine-tuned for two epochs
        // with heavy augmentation (the second epoch kept only if validation improves), test-time flips.
        ["default"] = new TrainingConfig
        {
            InputHeight = 112,
            InputWidth = 112,
            Crop = new CellCropSpec { Enabled = true, Size = 0.6 },
            Head = HeadSpec.Linear with { Dropout = 0.2 },
            Round1 = new RoundConfig { Epochs = 10, LearningRate = 1e-3 },
            Round2 = new RoundConfig { Epochs = 2, LearningRate = 2e-4, UnfrozenStages = ["stem", "layer1", "layer2", "layer3", "layer4"] },
            BatchSize = 32,
            Optimizer = OptimizerKind.AdamW,
            WeightDecay = 1e-4,
            Schedule = LrSchedule.Cosine,
            Augmentation = new AugmentationConfig { Flips = true, RotationDegrees = 180, Shift = 0.05, Scale = 0.1, ColorJitter = 0.1 },
            EarlyStoppingPatience = 1,
            TestTimeAugmentation = true,
        },
        // The study's recipe: native resolution, its dense head, a frozen round then a full fine-tune at a very low rate.
        ["study"] = new TrainingConfig
        {
            InputHeight = 240,
            InputWidth = 320,
            Head = HeadSpec.Study,
            Round1 = new RoundConfig { Epochs = 10, LearningRate = 1e-3 },
            Round2 = new RoundConfig { Epochs = 10, LearningRate = 1e-5, UnfrozenStages = ["stem", "layer1", "layer2", "layer3", "layer4"] },
            Augmentation = new AugmentationConfig { Flips = false, RotationDegrees = 0, Shift = 0, ColorJitter = 0 },
        },
    };

    public static TrainingConfig Get(string name) =>
        All.TryGetValue(name, out var c) ? c : throw new ArgumentException($"Unknown preset '{name}'; available: {string.Join(", ", All.Keys)}.");
}
