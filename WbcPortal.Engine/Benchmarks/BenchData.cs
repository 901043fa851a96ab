namespace WbcPortal.Engine.Benchmarks;

/// <summary>Where benchmarks find the real images (never part of the repository).</summary>
public sealed record BenchData(string SharedDataDirectory)
{
    public string TrainSet => Path.Combine(SharedDataDirectory, "blood-cell-images", "TRAIN");

    public bool HasTrainSet => Directory.Exists(TrainSet);

    public string RequireTrainSet() => HasTrainSet
        ? TrainSet
        : throw new DirectoryNotFoundException($"This benchmark needs the Kaggle TRAIN images at {TrainSet} (set Bench:SharedData).");
}
