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
/// request never waits. One run at a time: a caller that finds no run busy and nobody queued runs its own image at once on
/// its own thread (with any request that slipped in meanwhile), with no hand-off to the worker and back. A window above
/// zero instead holds the first request that long for others to join. A batched run's failure fails its own requests
/// only; a caller's cancellation drops its image before the run. The caller keeps ownership of its image.
/// </summary>
public sealed class MicroBatcher : IAsyncDisposable
{
    private sealed record Request(PreparedImage Prepared, TaskCompletionSource<float[]> Done, CancellationToken CancellationToken);

    private readonly OnnxClassifier classifier;
    private readonly MicroBatchOptions options;
    // Read by the worker and by a lone caller's run (what slipped in while it looked): not a single reader.
    private readonly Channel<Request> queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task worker;
    /// <summary>Held by whoever runs the session, the worker or a lone caller: one run at a time.</summary>
    private readonly SemaphoreSlim running = new(1, 1);
    private volatile bool disposed;
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
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<float[]>(cancellationToken);
        if (disposed) return Task.FromException<float[]>(Unloading());
        // A lone caller: no run busy and nobody waiting, so no batch to gather: run now, here.
        if (options.Window == TimeSpan.Zero && queue.Reader.Count == 0 && running.Wait(0))
        {
            try
            {
                return Task.FromResult(RunInline(prepared));
            }
            catch (Exception ex)
            {
                return Task.FromException<float[]>(ex);
            }
            finally
            {
                running.Release();
            }
        }
        var done = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!queue.Writer.TryWrite(new Request(prepared, done, cancellationToken))) done.SetException(Unloading());
        return done.Task;
    }

    /// <summary>The lone caller's run (the <see cref="running"/> gate held): its image first, with any request queued since it looked.</summary>
    private float[] RunInline(PreparedImage prepared)
    {
        var live = Take(options.MaxBatch - 1);
        var all = new List<PreparedImage>(live.Count + 1) { prepared };
        all.AddRange(live.Select(r => r.Prepared));
        float[][] logits;
        try
        {
            logits = classifier.Logits(all);
        }
        catch (Exception ex)
        {
            foreach (var request in live) request.Done.TrySetException(ex);
            throw;
        }
        Interlocked.Increment(ref batches);
        Interlocked.Add(ref images, all.Count);
        for (int i = 0; i < live.Count; i++) live[i].Done.TrySetResult(logits[i + 1]);
        return logits[0];
    }

    /// <summary>Up to <paramref name="count"/> queued requests, those cancelled meanwhile answered as cancelled and left out.</summary>
    private List<Request> Take(int count)
    {
        var live = new List<Request>();
        while (live.Count < count && queue.Reader.TryRead(out var request))
        {
            if (request.CancellationToken.IsCancellationRequested) request.Done.TrySetCanceled(request.CancellationToken);
            else live.Add(request);
        }
        return live;
    }

    private static ObjectDisposedException Unloading() => new(nameof(MicroBatcher), "The model is being unloaded.");

    private async Task RunAsync()
    {
        var batch = new List<Request>(options.MaxBatch);
        while (await queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            if (options.Window > TimeSpan.Zero && queue.Reader.TryRead(out var first))
            {
                batch.Add(first);
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
            // Wait for the run in progress (a lone caller's): what arrives meanwhile joins this batch.
            await running.WaitAsync().ConfigureAwait(false);
            try
            {
                var live = new List<Request>(batch.Count);
                foreach (var request in batch)
                {
                    if (request.CancellationToken.IsCancellationRequested) request.Done.TrySetCanceled(request.CancellationToken);
                    else live.Add(request);
                }
                live.AddRange(Take(options.MaxBatch - batch.Count));
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
            finally
            {
                running.Release();
            }
        }
    }

    /// <summary>Stops taking requests, serves the ones already queued, and waits for the worker.</summary>
    public async ValueTask DisposeAsync()
    {
        disposed = true;
        queue.Writer.TryComplete();
        await worker.ConfigureAwait(false);
        // A lone caller's run that started before: the session stays until it ends.
        await running.WaitAsync().ConfigureAwait(false);
        running.Release();
    }
}
