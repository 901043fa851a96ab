using TorchSharp;
using TorchSharp.Modules;
using WbcPortal.Engine.Models.Backbones;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace WbcPortal.Engine.Models.Classifiers;

/// <summary>
/// The pretrained backbone with a classifier head. Parameter names: <c>backbone.*</c> (torchvision
/// style, see <see cref="CntkResNet18"/>) and <c>head.N.weight/bias</c> for the dense layers, where the
/// head is a Sequential of [Dropout, Linear, ReLU]* then [Dropout, Linear] (dropout layers omitted when 0).
/// Input: preprocessed images [N, 3, H, W]; output: logits [N, classes]. Given a generator, the head's dense layers are
/// initialised from it (PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))) rather than from torch's process-wide
/// generator, and <see cref="SetDropoutGenerator"/> points the dropout masks at a run's own generator.
/// </summary>
public sealed class WbcClassifier : Module<Tensor, Tensor>
{
    private readonly CntkResNet18 backbone;
    private readonly Sequential head;

    public WbcClassifier(CntkResNet18 backbone, HeadSpec spec, int classes, Generator? initGenerator = null) : base(nameof(WbcClassifier))
    {
        spec.Validate();
        if (classes < 2) throw new ArgumentException("A classifier needs at least two classes.", nameof(classes));
        Spec = spec;
        Classes = classes;
        this.backbone = backbone;
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        int width = CntkResNet18.FeatureDim;
        foreach (var hidden in spec.Hidden.Append(classes).Select((w, i) => (w, i)))
        {
            if (spec.Dropout > 0) layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), new SeededDropout(spec.Dropout)));
            layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Linear(width, hidden.w)));
            bool last = hidden.i == spec.Hidden.Count;
            if (!last) layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), ReLU()));
            width = hidden.w;
        }
        head = Sequential(layers);
        RegisterComponents();
        if (initGenerator is not null) InitializeHead(initGenerator);
    }

    private void InitializeHead(Generator generator)
    {
        using var _ = no_grad();
        foreach (var layer in DenseLayers)
        {
            double bound = 1 / Math.Sqrt(layer.weight!.shape[1]);
            foreach (var p in new[] { layer.weight, layer.bias! })
            {
                using var u = rand(p.shape, dtype: p.dtype, generator: generator);
                using var values = u.mul(2 * bound).sub(bound);
                p.copy_(values);
            }
        }
    }

    /// <summary>Where the head's dropout masks are drawn from: a run's own generator while it trains, null for torch's default.</summary>
    public void SetDropoutGenerator(Generator? generator)
    {
        foreach (var dropout in head.children().OfType<SeededDropout>()) dropout.Generator = generator;
    }

    public HeadSpec Spec { get; }
    public int Classes { get; }
    public CntkResNet18 Backbone => backbone;
    public Sequential Head => head;

    /// <summary>The linear layers of the head in order (for export).</summary>
    public IReadOnlyList<Linear> DenseLayers => head.children().OfType<Linear>().ToList();

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return head.call(backbone.call(input)).MoveToOuterDisposeScope();
    }

    /// <summary>Pooled backbone features [N, 512].</summary>
    public Tensor Features(Tensor input) => backbone.call(input);

    /// <summary>Freezes the whole backbone (round 1) or unfreezes the named stages (round 2); the head always trains.</summary>
    public void SetTrainableStages(IReadOnlyCollection<string> stages)
    {
        foreach (var (name, p) in backbone.named_parameters())
        {
            string stage = name.StartsWith("layer", StringComparison.Ordinal) ? name[..name.IndexOf('.', StringComparison.Ordinal)] : "stem";
            p.requires_grad = stages.Contains(stage);
        }
        foreach (var p in head.parameters()) p.requires_grad = true;
    }
}
