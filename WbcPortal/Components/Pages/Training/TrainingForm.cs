using System.Globalization;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;

namespace WbcPortal.Components.Pages.Training;

/// <summary>The training form's editable state; converts to and from the immutable <see cref="TrainingConfig"/>.</summary>
public sealed class TrainingForm
{
    public static readonly string[] Stages = ["stem", "layer1", "layer2", "layer3", "layer4"];

    public string Backbone { get; set; } = "resnet18-imagenet";
    public bool Crop { get; set; }
    public double CropSize { get; set; } = 0.6;
    public int CropThreshold { get; set; } = 150;
    public bool CacheFeatures { get; set; } = true;
    public double Scale { get; set; }
    public bool RestoreBest { get; set; } = true;
    public bool Tta { get; set; }
    public int InputHeight { get; set; }
    public int InputWidth { get; set; }
    public string Hidden { get; set; } = "";
    public double Dropout { get; set; }
    public int Round1Epochs { get; set; }
    public double Round1Lr { get; set; }
    public int Round2Epochs { get; set; }
    public double Round2Lr { get; set; }
    public IReadOnlyCollection<string> Round2Stages { get; set; } = [];
    public int BatchSize { get; set; }
    public OptimizerKind Optimizer { get; set; }
    public double WeightDecay { get; set; }
    public LrSchedule Schedule { get; set; }
    public bool Flips { get; set; }
    public double Rotation { get; set; }
    public double Shift { get; set; }
    public double ColorJitter { get; set; }
    public double StainJitter { get; set; }
    public double Blur { get; set; }
    public double Jpeg { get; set; }
    public double Mixup { get; set; }
    /// <summary>Fine-tune learning rate of each stage below the head, as a factor of the one above it (1: one rate).</summary>
    public double StageRateDecay { get; set; } = 1;
    public bool ClassWeighting { get; set; }
    public double LabelSmoothing { get; set; }
    /// <summary>Fine-tune epochs draw views per original (source group) instead of passing over every stored copy.</summary>
    public bool SampleByOriginal { get; set; }
    public int ViewsPerOriginal { get; set; } = 8;
    public bool BalanceClasses { get; set; } = true;
    /// <summary>Target accuracy on decided validation cells, in percent (the "Unidentified" threshold is fitted for it).</summary>
    public double RejectTargetPercent { get; set; } = 95;
    public int Patience { get; set; }
    public int Seed { get; set; }
    public string Device { get; set; } = "auto";

    public static TrainingForm From(TrainingConfig c) => new()
    {
        Backbone = c.Backbone,
        Crop = c.Crop.Enabled,
        CropSize = c.Crop.Size,
        CropThreshold = c.Crop.Threshold,
        CacheFeatures = c.CacheFrozenFeatures,
        Scale = c.Augmentation.Scale,
        RestoreBest = c.RestoreBestEpoch,
        Tta = c.TestTimeAugmentation,
        InputHeight = c.InputHeight,
        InputWidth = c.InputWidth,
        Hidden = string.Join(",", c.Head.Hidden),
        Dropout = c.Head.Dropout,
        Round1Epochs = c.Round1.Epochs,
        Round1Lr = c.Round1.LearningRate,
        Round2Epochs = c.Round2.Epochs,
        Round2Lr = c.Round2.LearningRate,
        Round2Stages = c.Round2.UnfrozenStages.ToList(),
        BatchSize = c.BatchSize,
        Optimizer = c.Optimizer,
        WeightDecay = c.WeightDecay,
        Schedule = c.Schedule,
        Flips = c.Augmentation.Flips,
        Rotation = c.Augmentation.RotationDegrees,
        Shift = c.Augmentation.Shift,
        ColorJitter = c.Augmentation.ColorJitter,
        StainJitter = c.Augmentation.StainJitter,
        Blur = c.Augmentation.Blur,
        Jpeg = c.Augmentation.Jpeg,
        Mixup = c.Mixup,
        StageRateDecay = c.Round2.StageRateDecay,
        ClassWeighting = c.ClassWeighting,
        LabelSmoothing = c.LabelSmoothing,
        SampleByOriginal = c.Sampling.Mode == SamplingMode.ByOriginal,
        ViewsPerOriginal = c.Sampling.ViewsPerOriginal,
        BalanceClasses = c.Sampling.BalanceClasses,
        RejectTargetPercent = Math.Round(c.RejectTargetAccuracy * 100, 1),
        Patience = c.EarlyStoppingPatience,
        Seed = c.Seed,
        Device = c.Device,
    };

    /// <summary>The configuration this form describes; throws <see cref="ArgumentException"/> naming the first wrong field.</summary>
    public TrainingConfig ToConfig()
    {
        var hidden = new List<int>();
        foreach (var part in Hidden.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var width)) throw new ArgumentException($"Head layers: '{part}' is not a whole number.");
            hidden.Add(width);
        }
        var config = new TrainingConfig
        {
            Backbone = Backbone,
            Crop = new WbcPortal.Engine.Imaging.CellCrop.CellCropSpec { Enabled = Crop, Size = CropSize, Threshold = CropThreshold },
            CacheFrozenFeatures = CacheFeatures,
            RestoreBestEpoch = RestoreBest,
            TestTimeAugmentation = Tta,
            InputHeight = InputHeight,
            InputWidth = InputWidth,
            Head = new HeadSpec(hidden, Dropout),
            Round1 = new RoundConfig { Epochs = Round1Epochs, LearningRate = Round1Lr },
            Round2 = new RoundConfig { Epochs = Round2Epochs, LearningRate = Round2Lr, UnfrozenStages = Stages.Where(Round2Stages.Contains).ToList(), StageRateDecay = StageRateDecay },
            BatchSize = BatchSize,
            Optimizer = Optimizer,
            WeightDecay = WeightDecay,
            Schedule = Schedule,
            Augmentation = new AugmentationConfig { Flips = Flips, RotationDegrees = Rotation, Shift = Shift, Scale = Scale, ColorJitter = ColorJitter, StainJitter = StainJitter, Blur = Blur, Jpeg = Jpeg },
            Mixup = Mixup,
            ClassWeighting = ClassWeighting,
            LabelSmoothing = LabelSmoothing,
            Sampling = new SamplingConfig { Mode = SampleByOriginal ? SamplingMode.ByOriginal : SamplingMode.EveryCopy, ViewsPerOriginal = ViewsPerOriginal, BalanceClasses = BalanceClasses },
            RejectTargetAccuracy = RejectTargetPercent / 100,
            EarlyStoppingPatience = Patience,
            Seed = Seed,
            Device = Device,
        };
        config.Validate();
        return config;
    }
}
