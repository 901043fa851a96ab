namespace WbcPortal.Engine.Imaging;

/// <summary>How long a decode waits for room in the <see cref="DecodeBudget"/>.</summary>
public enum DecodeWait
{
    /// <summary>Background work (imports, batches, evaluations, training data): waits until there is room, or until cancelled.</summary>
    UntilFree,

    /// <summary>A request someone waits on: at most <see cref="DecodeBudget.RequestWait"/>, then <see cref="DecodeBudgetBusyException"/>.</summary>
    Bounded,
}

/// <summary>
/// One memory budget for every decode in the process. Each decode reserves its worst case (computed from the image's
/// header before a pixel is decoded) and gives it back when its image is disposed; a decode that does not fit waits, in
/// arrival order (so a large image is not starved by small ones), until earlier ones give back. Requests wait at most
/// <see cref="RequestWait"/> and are then refused (<see cref="DecodeBudgetBusyException"/>: the portal answers 503 with
/// Retry-After); background work waits until there is room. A single image whose worst case is larger than the whole
/// budget is refused at once. One instance per process (a singleton); the state is the instance's own.
/// </summary>
public sealed class DecodeBudget
{
    private readonly object gate = new();
    private readonly LinkedList<Waiter> queue = new();
    private long used;
    private long peak;

    public DecodeBudget(long capacityBytes, TimeSpan requestWait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L);
        CapacityBytes = capacityBytes;
        RequestWait = requestWait;
    }

    /// <summary>The most all decodes together may reserve.</summary>
    public long CapacityBytes { get; }

    /// <summary>How long a request's decode waits for room before it is refused.</summary>
    public TimeSpan RequestWait { get; }

    /// <summary>Bytes reserved now.</summary>
    public long UsedBytes { get { lock (gate) return used; } }

    /// <summary>The most ever reserved at once.</summary>
    public long PeakBytes { get { lock (gate) return peak; } }

    /// <summary>Decodes waiting for room now.</summary>
    public int Waiting { get { lock (gate) return queue.Count; } }

    /// <summary>Reserves <paramref name="bytes"/>, blocking the calling thread while it waits (decodes run on worker threads).</summary>
    public DecodeReservation Reserve(long bytes, DecodeWait wait, CancellationToken cancellationToken)
    {
        var waiter = Enqueue(bytes);
        if (waiter is null) return new DecodeReservation(this, bytes);
        try
        {
            if (wait == DecodeWait.Bounded) waiter.Signal.Wait(RequestWait, cancellationToken);
            else waiter.Signal.Wait(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Abandon(waiter);
            throw;
        }
        return Complete(waiter);
    }

    /// <summary>Reserves <paramref name="bytes"/> without holding a thread while it waits.</summary>
    public async ValueTask<DecodeReservation> ReserveAsync(long bytes, DecodeWait wait, CancellationToken cancellationToken)
    {
        var waiter = Enqueue(bytes);
        if (waiter is null) return new DecodeReservation(this, bytes);
        try
        {
            await waiter.Signal.WaitAsync(wait == DecodeWait.Bounded ? RequestWait : Timeout.InfiniteTimeSpan, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Abandon(waiter);
            throw;
        }
        return Complete(waiter);
    }

    /// <summary>Takes the bytes at once when nothing waits and they fit (null); otherwise queues a waiter.</summary>
    private Waiter? Enqueue(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes > CapacityBytes)
        {
            throw new ImageRejectedException(ImageRejection.TooLargePixels,
                $"decoding it needs up to {Megabytes(bytes)}, more than the whole decoding budget of {Megabytes(CapacityBytes)} (Imaging:DecodeBudgetMegabytes)");
        }
        lock (gate)
        {
            if (queue.Count == 0 && used + bytes <= CapacityBytes)
            {
                Take(bytes);
                return null;
            }
            var waiter = new Waiter(bytes);
            waiter.Node = queue.AddLast(waiter);
            return waiter;
        }
    }

    /// <summary>The wait ended: the room was granted (even as the wait timed out), or the waiter leaves the queue refused.</summary>
    private DecodeReservation Complete(Waiter waiter)
    {
        lock (gate)
        {
            // Granted while the wait timed out: the room is ours, keep it.
            if (waiter.Granted) return new DecodeReservation(this, waiter.Bytes);
            queue.Remove(waiter.Node!);
            GrantWaiting();
        }
        throw new DecodeBudgetBusyException(CapacityBytes, RequestWait);
    }

    private void Abandon(Waiter waiter)
    {
        lock (gate)
        {
            if (waiter.Granted) Give(waiter.Bytes);
            else queue.Remove(waiter.Node!);
            GrantWaiting();
        }
    }

    internal void Release(long bytes)
    {
        if (bytes <= 0) return;
        lock (gate)
        {
            Give(bytes);
            GrantWaiting();
        }
    }

    private void Take(long bytes)
    {
        used += bytes;
        if (used > peak) peak = used;
    }

    private void Give(long bytes) => used -= bytes;

    /// <summary>Grants waiters in arrival order while the first one fits.</summary>
    private void GrantWaiting()
    {
        while (queue.First is { } first && used + first.Value.Bytes <= CapacityBytes)
        {
            queue.RemoveFirst();
            Take(first.Value.Bytes);
            first.Value.Granted = true;
            first.Value.Signal.Release();
        }
    }

    internal static string Megabytes(long bytes) => $"{bytes / (1024.0 * 1024):N0} MB";

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;
        public SemaphoreSlim Signal { get; } = new(0, 1);
        public LinkedListNode<Waiter>? Node { get; set; }
        public bool Granted { get; set; }
    }
}

/// <summary>Room held in the <see cref="DecodeBudget"/>; dispose (once or more) to give it back.</summary>
public sealed class DecodeReservation : IDisposable
{
    private readonly DecodeBudget budget;
    private long held;

    internal DecodeReservation(DecodeBudget budget, long bytes)
    {
        this.budget = budget;
        held = bytes;
    }

    /// <summary>The bytes held now.</summary>
    public long Bytes => Interlocked.Read(ref held);

    /// <summary>Gives back all but <paramref name="bytes"/> (what a decoded image still holds once its working buffers are gone).</summary>
    public void ShrinkTo(long bytes)
    {
        long before;
        do
        {
            before = Interlocked.Read(ref held);
            if (bytes >= before) return;
        }
        while (Interlocked.CompareExchange(ref held, bytes, before) != before);
        budget.Release(before - bytes);
    }

    public void Dispose() => budget.Release(Interlocked.Exchange(ref held, 0));
}

/// <summary>Every decode's room is taken and a request waited its bounded time: the request is refused (HTTP 503 with Retry-After).</summary>
public sealed class DecodeBudgetBusyException(long capacityBytes, TimeSpan waited)
    : Exception($"The server is decoding as many images as its memory budget allows ({DecodeBudget.Megabytes(capacityBytes)}) and waited {waited.TotalSeconds:0.#} s for room: try again shortly.")
{
    /// <summary>When to try again.</summary>
    public TimeSpan RetryAfter { get; } = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(waited.TotalSeconds)));
}
