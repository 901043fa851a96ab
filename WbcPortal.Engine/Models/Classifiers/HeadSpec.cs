namespace WbcPortal.Engine.Models.Classifiers;

/// <summary>The classifier head on top of the backbone's pooled features: dense layers (ReLU, dropout) then a linear output.</summary>
/// <param name="Hidden">Widths of the hidden dense layers, input side first; empty for a single linear layer.</param>
/// <param name="Dropout">Dropout before each dense layer (0 for none).</param>
public sealed record HeadSpec(IReadOnlyList<int> Hidden, double Dropout)
{
    /// <summary>A single linear layer on the 512 pooled features.</summary>
    public static HeadSpec Linear { get; } = new([], 0.2);

    /// <summary>The study's dense head: 1024-512-128-64-8, then the output layer.</summary>
    public static HeadSpec Study { get; } = new([1024, 512, 128, 64, 8], 0.3);

    public void Validate()
    {
        if (Hidden.Any(h => h < 1 || h > 8192)) throw new ArgumentException("Head layer widths must be between 1 and 8192.");
        if (Dropout is < 0 or >= 1) throw new ArgumentException("Head dropout must be in [0, 1).");
    }

    public override string ToString() => Hidden.Count == 0 ? $"linear (dropout {Dropout:0.##})" : $"{string.Join("-", Hidden)} (dropout {Dropout:0.##})";
}
