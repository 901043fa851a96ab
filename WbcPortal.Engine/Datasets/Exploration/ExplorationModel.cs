namespace WbcPortal.Engine.Datasets.Exploration;

/// <summary>An image to measure: its class and its file.</summary>
public sealed record ExplorationImage(string ClassName, string Path);

public sealed record ExplorationOptions
{
    /// <summary>At most this many images per class are measured (a seeded random sample).</summary>
    public int SamplePerClass { get; init; } = 300;
    public int Seed { get; init; } = 20;
    public int BlackLevel { get; init; } = PixelMeasures.DefaultBlackLevel;
    public int MaxDegreeOfParallelism { get; init; } = 2;
}

/// <summary>
/// The measures of one class over its sample. <see cref="Density"/> is the mean of the images'
/// density histograms (each image weighs the same), so <see cref="FractionBelow"/> is exactly the
/// mean over images of the fraction of pixels darker than a level.
/// </summary>
public sealed record ClassExploration(string ClassName, int Images, int Measured, IReadOnlyList<double> Density, IReadOnlyList<double> BlackFractions)
{
    public double MeanBlackFraction => BlackFractions.Count == 0 ? 0 : BlackFractions.Average();

    /// <summary>The share of images with any near-black pixels at all.</summary>
    public double ShareWithBorder => BlackFractions.Count == 0 ? 0 : BlackFractions.Count(f => f > 0) / (double)BlackFractions.Count;

    public double FractionBelow(int level) => PixelMeasures.FractionBelow(Density, level);
}

/// <summary>The exploration of a dataset: per-class measures and the average histogram over every measured image.</summary>
public sealed record ExplorationResult(IReadOnlyList<ClassExploration> Classes, IReadOnlyList<double> AverageDensity, int Measured, int Failed, TimeSpan Elapsed)
{
    public double FractionBelow(int level) => PixelMeasures.FractionBelow(AverageDensity, level);
}
