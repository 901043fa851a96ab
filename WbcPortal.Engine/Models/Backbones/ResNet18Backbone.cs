using Onnx;
using TorchSharp;
using WbcPortal.Engine.Imaging;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace WbcPortal.Engine.Models.Backbones;

/// <summary>The built-in ImageNet ResNet18 (ML.NET's CNTK export): weights and preprocessing.</summary>
public sealed class ResNet18Backbone : IBackboneFactory
{
    private readonly PretrainedModelFiles files;
    private readonly Lazy<IReadOnlyList<CntkResNetWeights.NamedTensor>> weights;
    private readonly Lazy<MeanImage> mean;

    public ResNet18Backbone(PretrainedModelFiles files)
    {
        this.files = files;
        weights = new(() => { files.EnsurePresent(); return CntkResNetWeights.Read(files.ResNet18Onnx); });
        mean = new(() => { files.EnsurePresent(); return ReadMeanImage(files.PreprocessOnnx); });
    }

    public string Id => "resnet18-imagenet";
    public string DisplayName => "ResNet18 (ImageNet, ML.NET/CNTK export)";
    public int FeatureDim => CntkResNet18.FeatureDim;
    public IReadOnlyList<string> StageNames => ["stem", "layer1", "layer2", "layer3", "layer4"];

    /// <summary>The per-pixel BGR mean image the original preprocessing subtracts, 224x224.</summary>
    public MeanImage Mean => mean.Value;

    public BackbonePreprocessor CreatePreprocessor(int height, int width) => new(Mean, height, width);

    public CntkResNet18 CreateResNet(bool pretrained = true)
    {
        var module = new CntkResNet18();
        if (pretrained) LoadInto(module);
        return module;
    }

    public Module<Tensor, Tensor> Create(bool pretrained = true) => CreateResNet(pretrained);

    private void LoadInto(CntkResNet18 module)
    {
        var state = module.state_dict();
        using var _ = no_grad();
        int loaded = 0;
        foreach (var w in weights.Value)
        {
            if (!state.TryGetValue(w.Name, out var target))
            {
                throw new InvalidDataException($"Pretrained tensor {w.Name} has no place in the module.");
            }
            if (!target.shape.SequenceEqual(w.Shape))
            {
                throw new InvalidDataException(
                    $"Pretrained tensor {w.Name} has shape [{string.Join(",", w.Shape)}], the module wants [{string.Join(",", target.shape)}].");
            }
            using var source = tensor(w.Values, w.Shape);
            target.copy_(source);
            loaded++;
        }
        int expected = state.Keys.Count(k => !k.EndsWith("num_batches_tracked", StringComparison.Ordinal));
        if (loaded != expected) throw new InvalidDataException($"Loaded {loaded} pretrained tensors, the module has {expected}.");
    }

    private static MeanImage ReadMeanImage(string preprocessOnnx)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(preprocessOnnx));
        var init = model.Graph.Initializer.Single(t => t.Name == "MeanImage");
        if (init.Dims.Count != 4 || init.Dims[1] != 3) throw new InvalidDataException("MeanImage is not [1,3,H,W].");
        return new MeanImage(init.FloatData.ToArray(), (int)init.Dims[2], (int)init.Dims[3]);
    }
}
