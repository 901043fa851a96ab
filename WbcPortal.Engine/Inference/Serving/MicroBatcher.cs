using System.Threading.Channels;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Inference.Serving;

/// <summary>How requests are gathered into one batched run.</summary>
/// <param name="Window">How long the first request of a batch waits for others to join it.</param>
/// <param name="MaxBatch">Images per batched run at most.</param>
public sealed record MicroBatchOptions(TimeSpan Window, int MaxBatch)
{
    public static MicroBatchOptions Default { get; } = new(TimeSpan.Zero, 32);

    public void Validate()
    {
        if (Window < TimeSpan.Zero || Window > TimeSpan.FromSeconds(1)) throw new ArgumentException("The micro-batch window must be 0 to 1000 ms.");
        if (MaxBatch is < 1 or > 256) throw new ArgumentException("The micro-batch size must be 1 to 256 images.");
    }
}

/// <summary>
/// Gathers images asked for by concurrent callers into one batched session run. Each caller prepares its own image
/// (window, normalisation, flips) on its thread; the worker takes every request waiting (up to
/// <see cref="MicroBatchOptions.MaxBatch"/>), so requests that arrive while a run is busy form the next batch and a lone
/// request never waits. A window above zero also holds the first request that long for others to join. A batched run's failure fails its own requests
/// only; a caller's cancellation drops its image before the run. The caller keeps ownership of its image.
/// </summary>
public sealed class MicroBatcher : IAsyncDisposable
{
    private sealed record Request(PreparedImage Prepared, TaskCompletionSource<float[]> Done, CancellationToken CancellationToken);

    private readonly OnnxClassifier classifier;
    private readonly MicroBatchOptions options;
    private readonly Channel<Request> queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task worker;
    private long batches, images;

    public MicroBatcher(OnnxClassifier classifier, MicroBatchOptions? options = null)
    {
        this.classifier = classifier;
        this.options = options ?? MicroBatchOptions.Default;
        this.options.Validate();
        worker = Task.Run(RunAsync);
    }

    /// <summary>Batched runs so far and the images they held (their ratio is the mean batch).</summary>
    public (long Batches, long Images) Counts => (Interlocked.Read(ref batches), Interlocked.Read(ref images));

    /// <summary>The logits of one image, computed in a batch with whatever other requests arrive within the window.</summary>
    public Task<float[]> LogitsAsync(Image<Rgb24> image, CancellationToken cancellationToken = default) => LogitsAsync(classifier.Prepare(image), cancellationToken);

    /// <summary>The logits of one prepared image (<see cref="OnnxClassifier.Prepare"/>, done on the caller's thread, so preparing overlaps the runs).</summary>
    public Task<float[]> LogitsAsync(PreparedImage prepared, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!queue.Writer.TryWrite(new Request(prepared, done, cancellationToken)))
            done.SetException(new ObjectDisposedException(nameof(MicroBatcher), "The model is being unloaded."));
        return done.Task;
    }

    private async Task RunAsync()
    {
        var batch = new List<Request>(options.MaxBatch);
        while (await queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            if (!queue.Reader.TryRead(out var first)) continue;
            batch.Add(first);
            if (options.Window > TimeSpan.Zero && batch.Count < options.MaxBatch)
            {
                using var window = new CancellationTokenSource(options.Window);
                try
                {
                    while (batch.Count < options.MaxBatch && await queue.Reader.WaitToReadAsync(window.Token).ConfigureAwait(false))
                    {
                        while (batch.Count < options.MaxBatch && queue.Reader.TryRead(out var next)) batch.Add(next);
                    }
                }
                catch (OperationCanceledException)
                {
                    // the window closed
                }
            }
            while (batch.Count < options.MaxBatch && queue.Reader.TryRead(out var late)) batch.Add(late);

            var live = new List<Request>(batch.Count);
            foreach (var request in batch)
            {
                if (request.CancellationToken.IsCancellationRequested) request.Done.TrySetCanceled(request.CancellationToken);
                else live.Add(request);
            }
            if (live.Count == 0) continue;
            try
            {
                var logits = classifier.Logits(live.Select(r => r.Prepared).ToList());
                Interlocked.Increment(ref batches);
                Interlocked.Add(ref images, live.Count);
                for (int i = 0; i < live.Count; i++) live[i].Done.TrySetResult(logits[i]);
            }
            catch (Exception ex)
            {
                foreach (var request in live) request.Done.TrySetException(ex);
            }
        }
    }

    /// <summary>Stops taking requests, serves the ones already queued, and waits for the worker.</summary>
    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        await worker.ConfigureAwait(false);
    }
}
