using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Training;

namespace WbcPortal.Storage;

/// <summary>
/// How the typed values are stored: as the names the CLI prints and older databases hold ("round1", "val", "cuda", "grouped"),
/// through the types' own mappings, so the database, the CLI's JSON and the pages read the same words.
/// </summary>
internal static class TypedValueConversions
{
    public static readonly ValueConverter<ComputeDevice, string> Device = new(v => v.Name(), v => ComputeDevices.Parse(v));
    public static readonly ValueConverter<SplitStrategy, string> Strategy = new(v => v.Name(), v => SplitStrategies.Parse(v));
    public static readonly ValueConverter<TrainingStage, string> Stage = new(v => v.Name(), v => TrainingStages.Parse(v));
    public static readonly ValueConverter<SplitPart, string> Part = new(v => v.Name(), v => SplitParts.Parse(v));
    public static readonly ValueConverter<EvaluationSourceKind, string> SourceKind = new(v => EvaluationSource.KindName(v), v => EvaluationSource.ParseKind(v));
}
