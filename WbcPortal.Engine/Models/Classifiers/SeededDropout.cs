using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace WbcPortal.Engine.Models.Classifiers;

/// <summary>
/// Inverted dropout whose mask is drawn from a generator the run owns, not from torch's process-wide one, so two runs in
/// one process (folds one after another, or two at once) do not change each other's masks. TorchSharp's dropout takes no
/// generator, so the mask is made here: keep where U[0,1) ≥ p, scale by 1/(1-p). The mask is drawn on the CPU (the
/// generator's device) and moved: identical on every device. Without a generator it draws from torch's default one.
/// </summary>
public sealed class SeededDropout : Module<Tensor, Tensor>
{
    public SeededDropout(double p) : base(nameof(SeededDropout))
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), "Dropout must be in [0, 1).");
        P = p;
    }

    public double P { get; }

    /// <summary>The run's generator while it trains; null: torch's default generator.</summary>
    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || P == 0) return input.alias();
        using var scope = NewDisposeScope();
        var uniform = rand(input.shape, dtype: input.dtype, generator: Generator);
        var keep = uniform.ge(P).to(input.dtype).to(input.device);
        return input.mul(keep).div(1 - P).MoveToOuterDisposeScope();
    }
}
