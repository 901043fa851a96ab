using System.Text.Json;

namespace WbcPortal.Engine.Training;

/// <summary>
/// The state after a finished epoch. <c>checkpoint.json</c> is written last (temp file, then rename)
/// and names the weights file it goes with, so a crash mid-write leaves the previous checkpoint whole.
/// </summary>
public sealed record Checkpoint(int Round, int Epoch, string WeightsFile, IReadOnlyList<EpochRecord> History, double BestValAccuracy, int EpochsSinceBest)
{
    public const string FileName = "checkpoint.json";

    /// <summary>The weights of the round's best validation epoch so far (kept for early stopping's restore).</summary>
    public string? BestWeightsFile { get; init; }

    /// <summary>The optimizer's state after this epoch (Adam's moments and step count), so a resumed round takes the steps an unbroken one would. Null in checkpoints written before it was kept.</summary>
    public string? OptimizerFile { get; init; }

    public static Checkpoint? Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        var checkpoint = JsonSerializer.Deserialize<Checkpoint>(File.ReadAllText(path), TrainingConfig.Json)
            ?? throw new InvalidDataException($"Empty checkpoint: {path}");
        if (!File.Exists(Path.Combine(directory, checkpoint.WeightsFile)))
            throw new InvalidDataException($"The checkpoint names {checkpoint.WeightsFile}, which is missing.");
        if (checkpoint.OptimizerFile is { } optimizer && !File.Exists(Path.Combine(directory, optimizer)))
            throw new InvalidDataException($"The checkpoint names {optimizer}, which is missing.");
        return checkpoint;
    }

    /// <summary>
    /// After a run's model is exported and the run has succeeded (it is never resumed again): keeps only the weights the
    /// model came from (the best epoch's, which Grad-CAM reads) and drops the optimizer state and any other weights, about
    /// two thirds of the folder. The checkpoint then names the kept weights and no optimizer. Returns the bytes freed (0
    /// when there is no checkpoint).
    /// </summary>
    public static long PruneAfterExport(string directory)
    {
        if (Load(directory) is not { } checkpoint) return 0;
        string kept = checkpoint.BestWeightsFile is { } best && File.Exists(Path.Combine(directory, best)) ? best : checkpoint.WeightsFile;
        var pruned = checkpoint with { WeightsFile = kept, BestWeightsFile = null, OptimizerFile = null };
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(pruned, TrainingConfig.Json));
        File.Move(temp, path, overwrite: true);
        long freed = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*.bin").Where(f => Path.GetFileName(f) != kept))
        {
            freed += new FileInfo(file).Length;
            File.Delete(file);
        }
        return freed;
    }

    public void Save(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, TrainingConfig.Json));
        File.Move(temp, path, overwrite: true);
        var keep = new[] { WeightsFile, BestWeightsFile, OptimizerFile };
        foreach (var old in Directory.EnumerateFiles(directory, "*.bin")
                     .Where(f => Path.GetFileName(f) is { } name && (name.StartsWith("weights-", StringComparison.Ordinal) || name.StartsWith("optimizer-", StringComparison.Ordinal)) && !keep.Contains(name)))
        {
            File.Delete(old);
        }
    }
}
