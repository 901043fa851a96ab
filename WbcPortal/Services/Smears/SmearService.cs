using WbcPortal.Services.Accounts;
using WbcPortal.Engine.Detection;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Smears;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Smears;

/// <summary>A batch of smears read with one model: the model's labels and threshold, and one result per smear in input order.</summary>
public sealed record SmearBatch(ModelChoice Model, IReadOnlyList<string> Labels, double RejectThreshold, IReadOnlyList<SmearImageResult> Images)
{
    public DifferentialCount Count() => SmearCorrections.Count(Labels, Images.Select(i => i.Cells).ToList());

    /// <summary>CLI.md's <c>smear</c> document (the API answers the same): boxes in each image's pixels, labels, counts.</summary>
    public object Json() => new
    {
        model = Model.Name,
        images = Images.Select(i => i.Error is { } error
            ? (object)new { file = i.File, error }
            : new
            {
                file = i.File,
                width = i.Width,
                height = i.Height,
                singleCell = i.SingleCellCrop,
                cells = i.Cells.Select(c => new
                {
                    box = c.Box,
                    label = c.Label,
                    confidence = c.Confidence,
                    guess = c.Guess,
                    edge = c.Edge,
                    probabilities = Labels.Select((l, k) => (l, k)).Where(x => x.k < c.Probabilities.Count).ToDictionary(x => x.l, x => c.Probabilities[x.k]),
                }),
            }),
        counts = CountsJson(Count()),
    };

    /// <summary>Label to number of cells (Unidentified included, as <c>predict</c>'s counts), and the differential with intervals.</summary>
    public static Dictionary<string, int> CountsJson(DifferentialCount count)
    {
        var counts = count.Classes.ToDictionary(c => c.Label, c => c.Count);
        counts[DifferentialCount.UnidentifiedLabel] = count.Unidentified;
        return counts;
    }
}

/// <summary>
/// Reads smears with a model: each image decoded with the hardened limits, its white cells found (<see cref="IWbcDetector"/>),
/// each cell classified through the model's micro-batcher (<see cref="SmearAnalyzer"/>). A smear that cannot be read gets its own
/// error; the others are answered. Used by the Smears page's batches, <c>smear</c> and <c>POST /api/v1/smears</c> alike.
/// </summary>
public sealed class SmearService(ModelServing serving, ImageDecoding decoding, IWbcDetector detector, Accounts.AccessControl access)
{
    /// <summary>Finds and classifies the cells of each smear; decodes wait for room as <paramref name="wait"/> says (a request: bounded, then <see cref="DecodeBudgetBusyException"/>).</summary>
    [Demands(PortalAction.Classify)]
    public async Task<SmearBatch> AnalyzeAsync(ModelChoice model, IReadOnlyList<PredictionInput> inputs, IProgress<int>? progress, CancellationToken cancellationToken,
        DecodeWait wait = DecodeWait.UntilFree)
    {
        access.Demand(PortalAction.Classify);
        using var lease = await serving.AcquireAsync(model.Path, cancellationToken);
        var labels = lease.Model.Labels;
        int done = 0;
        // Two smears at a time: each already sends all its cells to the batcher at once.
        using var gate = new SemaphoreSlim(2);
        var results = await Task.WhenAll(inputs.Select(async input =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                return await Task.Run(async () =>
                {
                    using var image = await decoding.DecodeRgbAsync(input.Bytes, wait, cancellationToken);
                    var analysis = await SmearAnalyzer.AnalyzeAsync(image, detector, lease, cancellationToken);
                    return SmearImageResult.From(input.File, analysis, labels);
                }, cancellationToken);
            }
            catch (Exception ex) when (ex is ImageRejectedException or SixLabors.ImageSharp.ImageFormatException or InvalidDataException or NotSupportedException)
            {
                return SmearImageResult.Failed(input.File, ex.Message);
            }
            finally
            {
                gate.Release();
                progress?.Report(Interlocked.Increment(ref done));
            }
        }));
        var metadata = lease.Model.Classifier.Metadata;
        return new SmearBatch(model, labels, metadata.RejectThreshold, results);
    }
}
