using WbcPortal.Engine.Detection;
using WbcPortal.Engine.Smears;
using WbcPortal.Services.Batches;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Smears;

/// <summary>One white cell as stored and shown: box in the smear's pixels, the classifier's answer, and, after a correction, the reviewer's.</summary>
/// <param name="Id">Stable within its smear: the detector's cells are 0..n-1, a cell a reviewer added takes the next free number.</param>
/// <param name="Label">The answer in force: a class, or "Unidentified".</param>
/// <param name="Guess">The model's most probable class when it left the cell unidentified.</param>
/// <param name="ModelLabel">What the model said (null for a cell a reviewer added).</param>
/// <param name="Corrected">Whether a reviewer moved, relabelled or added it.</param>
public sealed record SmearCellResult(int Id, int[] Box, double CenterX, double CenterY, bool Edge, double DetectionScore,
    string Label, double Confidence, string? Guess, IReadOnlyList<double> Probabilities, string? ModelLabel = null, bool Corrected = false)
{
    public PixelBox PixelBox => new(Box[0], Box[1], Box[2], Box[3]);

    /// <summary>The three most probable classes of the model, most probable first.</summary>
    public IEnumerable<(int Index, double P)> Top(int count) =>
        Probabilities.Select((p, i) => (i, p)).OrderByDescending(x => x.p).Take(count);
}

/// <summary>One smear of a batch: its size and cells, or why it could not be read.</summary>
public sealed record SmearImageResult(string File, int Width, int Height, bool SingleCellCrop, double Scale, double ViewHeight, IReadOnlyList<SmearCellResult> Cells, string? Error)
{
    public static SmearImageResult Failed(string file, string error) => new(file, 0, 0, false, 1, 0, [], error);

    public static SmearImageResult From(string file, SmearAnalysis analysis, IReadOnlyList<string> labels) =>
        new(file, analysis.Width, analysis.Height, analysis.SingleCellCrop, analysis.Scale, analysis.ViewHeight,
            analysis.Cells.Select((c, i) => new SmearCellResult(i, [c.Box.XMin, c.Box.YMin, c.Box.XMax, c.Box.YMax], c.CenterX, c.CenterY, c.Edge, c.DetectionScore,
                c.Prediction.Answer(labels), c.Prediction.Decision.Confidence,
                c.Prediction.Decision.Unidentified ? labels[c.Prediction.Decision.Predicted] : null, c.Prediction.Probabilities, c.Prediction.Answer(labels))).ToList(),
            null);
}

/// <summary>How a stored smear batch ended, as <c>outcome.json</c> says (its numbers are stored: append only). Pages read <c>JobState</c>.</summary>
public enum SmearJobState { Running, Finished, Failed }

/// <summary>What a smear batch was asked to do, as stored.</summary>
public sealed record SmearBatchManifest(string Id, ModelChoice Model, IReadOnlyList<string> Files, IReadOnlyList<SkippedFile> Skipped, DateTimeOffset StartedAt) : IStoredBatch;

/// <summary>How a smear batch ended: the model's labels and threshold and every smear's cells, or the reason it failed.</summary>
public sealed record SmearBatchOutcome(SmearJobState State, string? Error, double Seconds, IReadOnlyList<string> Labels, double RejectThreshold, IReadOnlyList<SmearImageResult> Images);

/// <summary>Smear batches on disk (<c>smears/&lt;id&gt;/</c>), with the reviewer's corrections beside them (<c>corrections.json</c>).</summary>
public sealed class SmearBatchStore(WbcPortal.Options.StorageOptions storage) : BatchFolderStore<SmearBatchManifest, SmearBatchOutcome>(storage, "smears")
{
    private const string CorrectionsFile = "corrections.json";

    public IReadOnlyList<SmearCorrection> Corrections(string id) => LoadJson<List<SmearCorrection>>(id, CorrectionsFile) ?? [];

    public Task SaveCorrectionsAsync(string id, IReadOnlyList<SmearCorrection> corrections, CancellationToken cancellationToken) =>
        SaveJsonAsync(id, CorrectionsFile, corrections, cancellationToken);
}
