using WbcPortal.Engine.Evaluation;

namespace WbcPortal.Engine.Training;

/// <summary>What a run reports as it goes, in this order: rounds, their epochs and batches, and evaluations.</summary>
public abstract record TrainingEvent;

public sealed record BatchCompleted(int Round, int Epoch, int Batch, int Batches, double Loss, double ImagesPerSecond) : TrainingEvent;

/// <summary>A batch of an evaluation pass (validation or test) went through the model.</summary>
/// <param name="Stage">What is evaluated, as the live phase reads: a stage's name (<see cref="TrainingStages.Name"/>) or "features".</param>
public sealed record EvaluationProgress(string Stage, int Batch, int Batches) : TrainingEvent;

/// <summary>An epoch whose checkpoint is saved. <paramref name="Replayed"/>: re-reported from the checkpoint when a run resumes,
/// so a record lost between checkpoint and listener (a crash) is delivered again; listeners upsert.</summary>
public sealed record EpochCompleted(EpochRecord Record, bool Replayed = false) : TrainingEvent;

public sealed record Evaluated(TrainingStage Stage, ClassificationMetrics Validation, ClassificationMetrics? Test) : TrainingEvent;

/// <summary>Early stopping went back to the weights of the round's best validation epoch.</summary>
public sealed record BestEpochRestored(int Round, int Epoch) : TrainingEvent;

public sealed record CheckpointSaved(string Path, int Round, int Epoch) : TrainingEvent;

/// <summary>One finished epoch: the curves are made of these.</summary>
public sealed record EpochRecord(int Round, int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy, double Seconds, double ImagesPerSecond, double LearningRate);
