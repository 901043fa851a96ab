namespace WbcPortal.Engine.Training;

/// <summary>
/// What an evaluation measured: the trainer's own figures before training and after each round, or the exported ONNX model
/// (calibrated, evaluated by the evaluator the CLI's <c>evaluate</c> uses).
/// </summary>
public enum TrainingStage
{
    Untrained,
    Round1,
    Round2,
    Model,
}

/// <summary>The one mapping of <see cref="TrainingStage"/> to and from its stored and printed name ("untrained", "round1", "round2", "model").</summary>
public static class TrainingStages
{
    /// <summary>The stages the trainer itself evaluates, in order.</summary>
    public static IReadOnlyList<TrainingStage> Trainer { get; } = [TrainingStage.Untrained, TrainingStage.Round1, TrainingStage.Round2];

    public static string Name(this TrainingStage stage) => stage switch
    {
        TrainingStage.Untrained => "untrained",
        TrainingStage.Round1 => "round1",
        TrainingStage.Round2 => "round2",
        TrainingStage.Model => "model",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, null),
    };

    /// <summary>For people: what the stage's figures are of.</summary>
    public static string Title(this TrainingStage stage) => stage switch
    {
        TrainingStage.Untrained => "Untrained head",
        TrainingStage.Round1 => "Round 1 (frozen backbone)",
        TrainingStage.Round2 => "Round 2 (fine-tuned)",
        TrainingStage.Model => "Exported model (ONNX, calibrated)",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, null),
    };

    /// <summary>The stage after training round <paramref name="round"/> (1 or 2).</summary>
    public static TrainingStage AfterRound(int round) => round switch
    {
        1 => TrainingStage.Round1,
        2 => TrainingStage.Round2,
        _ => throw new ArgumentOutOfRangeException(nameof(round), round, "Training has rounds 1 and 2."),
    };

    public static bool TryParse(string? name, out TrainingStage stage)
    {
        foreach (var s in Enum.GetValues<TrainingStage>())
        {
            if (string.Equals(Name(s), name, StringComparison.Ordinal)) { stage = s; return true; }
        }
        stage = default;
        return false;
    }

    public static TrainingStage Parse(string name) =>
        TryParse(name, out var stage) ? stage : throw new FormatException($"Unknown training stage '{name}'; expected untrained, round1, round2 or model.");
}
