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
/// Input: preprocessed images [N, 3, H, W]; output: logits [N, classes].
/// </summary>
public sealed class WbcClassifier : Module<Tensor, Tensor>
{
    private readonly CntkResNet18 backbone;
    private readonly Sequential head;

    public WbcClassifier(CntkResNet18 backbone, HeadSpec spec, int classes) : base(nameof(WbcClassifier))
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
            if (spec.Dropout > 0) layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Dropout(spec.Dropout)));
            layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Linear(width, hidden.w)));
            bool last = hidden.i == spec.Hidden.Count;
            if (!last) layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), ReLU()));
            width = hidden.w;
        }
        head = Sequential(layers);
        RegisterComponents();
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
