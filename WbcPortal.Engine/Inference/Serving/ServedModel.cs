using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Evaluation.Reject;

namespace WbcPortal.Engine.Inference.Serving;

/// <summary>One image's answer: the model's decision ("Unidentified" under its threshold) and every class's calibrated probability.</summary>
public sealed record CellPrediction(ClassDecision Decision, IReadOnlyList<double> Probabilities, float[] Logits)
{
    public string Answer(IReadOnlyList<string> labels) => Decision.Answer(labels);

    /// <summary>The <paramref name="count"/> most probable classes, most probable first.</summary>
    public IEnumerable<int> Top(int count) => Enumerable.Range(0, Probabilities.Count).OrderByDescending(k => Probabilities[k]).Take(count);
}

/// <summary>
/// A model loaded for serving: one long-lived ONNX Runtime session behind a <see cref="MicroBatcher"/>, warmed up at
/// load, with leases so that a swap never disposes it under a request: <see cref="Retire"/> marks it for disposal, and
/// it is disposed when the last lease taken before is returned.
/// </summary>
public sealed class ServedModel
{
    private readonly OnnxClassifier classifier;
    private readonly MicroBatcher batcher;
    private readonly object gate = new();
    private int leases;
    private bool retired, disposed;

    private ServedModel(string id, OnnxClassifier classifier, MicroBatchOptions options)
    {
        Id = id;
        this.classifier = classifier;
        batcher = new MicroBatcher(classifier, options);
    }

    /// <summary>Loads, warms up (one run at batch 1, so the first caller does not pay for kernel selection) and starts batching.</summary>
    public static ServedModel Load(string id, OnnxClassifier classifier, MicroBatchOptions? options = null)
    {
        using (var blank = new Image<Rgb24>(classifier.Metadata.InputWidth, classifier.Metadata.InputHeight, new Rgb24(230, 220, 230)))
            classifier.Logits([blank]);
        return new ServedModel(id, classifier, options ?? MicroBatchOptions.Default);
    }

    public string Id { get; }
    public OnnxClassifier Classifier => classifier;
    public IReadOnlyList<string> Labels => classifier.Labels;
    public (long Batches, long Images) BatchCounts => batcher.Counts;

    /// <summary>A lease on the model, or null when it is retired (the caller takes the current one again).</summary>
    public Lease? TryAcquire()
    {
        lock (gate)
        {
            if (retired) return null;
            leases++;
            return new Lease(this);
        }
    }

    /// <summary>No new leases; disposed once the last one is returned.</summary>
    public void Retire()
    {
        bool now;
        lock (gate)
        {
            retired = true;
            now = leases == 0 && !disposed;
            if (now) disposed = true;
        }
        if (now) _ = DisposeAsync();
    }

    private void Release()
    {
        bool now;
        lock (gate)
        {
            leases--;
            now = retired && leases == 0 && !disposed;
            if (now) disposed = true;
        }
        if (now) _ = DisposeAsync();
    }

    private async Task DisposeAsync()
    {
        await batcher.DisposeAsync().ConfigureAwait(false);
        classifier.Dispose();
    }

    /// <summary>Whether the session has been disposed (after retirement and the last lease).</summary>
    public bool IsDisposed
    {
        get { lock (gate) return disposed; }
    }

    /// <summary>Use of a served model; dispose to return it.</summary>
    public sealed class Lease(ServedModel model) : IDisposable
    {
        private int returned;

        public ServedModel Model => model;

        /// <summary>One image through the micro-batcher: logits, calibrated probabilities and the decision.</summary>
        public Task<CellPrediction> PredictAsync(Image<Rgb24> image, CancellationToken cancellationToken = default) =>
            PredictPreparedAsync(model.classifier.Prepare(image), cancellationToken);

        /// <summary>One cell of a smear (the view centred on the detection, <paramref name="viewHeight"/> source pixels high) through the micro-batcher.</summary>
        public Task<CellPrediction> PredictAtAsync(Image<Rgb24> image, double centerX, double centerY, double viewHeight, CancellationToken cancellationToken = default) =>
            PredictPreparedAsync(model.classifier.PrepareAt(image, centerX, centerY, viewHeight), cancellationToken);

        private async Task<CellPrediction> PredictPreparedAsync(PreparedImage prepared, CancellationToken cancellationToken)
        {
            var logits = await model.batcher.LogitsAsync(prepared, cancellationToken).ConfigureAwait(false);
            var probabilities = model.classifier.Probabilities(logits);
            return new CellPrediction(RejectRule.Decide(probabilities, model.classifier.Metadata.RejectThreshold), probabilities, logits);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref returned, 1) == 0) model.Release();
        }
    }
}
