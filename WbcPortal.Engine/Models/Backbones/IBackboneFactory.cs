using WbcPortal.Engine.Imaging;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace WbcPortal.Engine.Models.Backbones;

/// <summary>A pretrained feature extractor the training form can offer. New backbones join through <see cref="BackboneRegistry"/>.</summary>
public interface IBackboneFactory
{
    string Id { get; }
    string DisplayName { get; }
    int FeatureDim { get; }
    /// <summary>Names of the stages that can be frozen or unfrozen, input side first.</summary>
    IReadOnlyList<string> StageNames { get; }
    BackbonePreprocessor CreatePreprocessor(int height, int width);
    Module<Tensor, Tensor> Create(bool pretrained = true);
}

/// <summary>The backbones available to this installation, by id.</summary>
public sealed class BackboneRegistry(IEnumerable<IBackboneFactory> backbones)
{
    private readonly Dictionary<string, IBackboneFactory> byId =
        backbones.ToDictionary(b => b.Id, StringComparer.OrdinalIgnoreCase);

    public IReadOnlyCollection<IBackboneFactory> All => byId.Values;

    public IBackboneFactory Get(string id) =>
        byId.TryGetValue(id, out var b)
            ? b
            : throw new ArgumentException($"Unknown backbone '{id}'. Available: {string.Join(", ", byId.Keys)}.", nameof(id));
}
