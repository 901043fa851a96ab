using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace WbcPortal.Engine.Models.Backbones;

/// <summary>
/// The ResNet18 that Microsoft.ML.DnnImageFeaturizer.ResNet18 ships (a CNTK export), rebuilt as a
/// TorchSharp module of its exact shape. Unlike torchvision's resnet18 its last stage has three
/// blocks ([2, 2, 2, 3]). Parameter names follow torchvision (conv1.weight, layer2.0.downsample.0.weight, ...).
/// Input: preprocessed images [N, 3, H, W] (see <see cref="Imaging.BackbonePreprocessor"/>); output: [N, 512].
/// </summary>
/// <remarks>
/// The original graph pads stride-2 convolutions and the max-pool asymmetrically ([1,1,0,0]; the stem
/// [3,3,2,2]). For even input sizes that equals symmetric padding, because the trailing pad is never
/// reached; symmetric padding is used here so odd sizes are well defined and the ONNX export matches.
/// </remarks>
public sealed class CntkResNet18 : Module<Tensor, Tensor>
{
    public static readonly int[] BlocksPerStage = [2, 2, 2, 3];
    public const int FeatureDim = 512;

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly AdaptiveAvgPool2d avgpool;

    public CntkResNet18() : base(nameof(CntkResNet18))
    {
        conv1 = Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorm2d(64);
        maxpool = MaxPool2d(3, stride: 2, padding: 1);
        layer1 = Stage(64, 64, BlocksPerStage[0], 1);
        layer2 = Stage(64, 128, BlocksPerStage[1], 2);
        layer3 = Stage(128, 256, BlocksPerStage[2], 2);
        layer4 = Stage(256, 512, BlocksPerStage[3], 2);
        avgpool = AdaptiveAvgPool2d(1);
        RegisterComponents();
    }

    /// <summary>The stages in order, for freezing or unfreezing them one by one.</summary>
    public IReadOnlyList<(string Name, Module Module)> Stages =>
        [("stem", Sequential(conv1, bn1)), ("layer1", layer1), ("layer2", layer2), ("layer3", layer3), ("layer4", layer4)];

    private static Sequential Stage(int inChannels, int outChannels, int blocks, int stride)
    {
        var list = new List<(string, Module<Tensor, Tensor>)>();
        for (int i = 0; i < blocks; i++)
        {
            list.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                new BasicBlock(i == 0 ? inChannels : outChannels, outChannels, i == 0 ? stride : 1)));
        }
        return Sequential(list);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = functional.relu(bn1.call(conv1.call(input)));
        x = maxpool.call(x);
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return avgpool.call(x).flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The last stage's activations (B x 512 x h x w) and the pooled features the head reads (their spatial mean): what a
    /// class activation map needs. Gradients flow through both.
    /// </summary>
    public (Tensor Activations, Tensor Pooled) ForwardWithActivations(Tensor input)
    {
        var x = functional.relu(bn1.call(conv1.call(input)));
        x = maxpool.call(x);
        var activations = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return (activations, avgpool.call(activations).flatten(1));
    }

    private sealed class BasicBlock : Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1, conv2;
        private readonly BatchNorm2d bn1, bn2;
        private readonly Sequential? downsample;

        public BasicBlock(int inChannels, int outChannels, int stride) : base(nameof(BasicBlock))
        {
            conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
            bn1 = BatchNorm2d(outChannels);
            conv2 = Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1, bias: false);
            bn2 = BatchNorm2d(outChannels);
            if (stride != 1 || inChannels != outChannels)
            {
                downsample = Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), BatchNorm2d(outChannels));
            }
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var identity = downsample is null ? input : downsample.call(input);
            var y = functional.relu(bn1.call(conv1.call(input)));
            y = bn2.call(conv2.call(y));
            return functional.relu(y + identity).MoveToOuterDisposeScope();
        }
    }
}
