using System.Buffers;
using System.Runtime.CompilerServices;
using SixLabors.ImageSharp.Memory;

namespace WbcPortal.Engine.Imaging;

/// <summary>
/// ImageSharp's pooled allocator, with every buffer of one decode counted against a budget: ImageSharp's own
/// <c>AllocationLimitMegabytes</c> caps one buffer, not a decode (a JPEG holds coefficients, strips and the result
/// at once). The budget flows with the decode (an <see cref="AsyncLocal{T}"/>, so worker threads of the same decode
/// count too); an allocation past it throws <see cref="InvalidMemoryOperationException"/> before it is made.
/// Allocations outside a decode (resizing, encoding) are not counted.
/// </summary>
internal sealed class BudgetAllocator(MemoryAllocator inner) : MemoryAllocator
{
    /// <summary>Large images are held in blocks of this size (ImageSharp's own pool block size).</summary>
    private const int BlockBytes = 4 * 1024 * 1024;

    private static readonly AsyncLocal<Budget?> Current = new();

    /// <summary>
    /// Starts counting the current decode's buffers against <paramref name="maxBytes"/>; dispose to stop. With a
    /// <paramref name="reservation"/> (the process-wide <see cref="DecodeBudget"/>'s room for this decode), the end of the
    /// decode shrinks it to what the decoded image still holds, and the image's last buffer returned gives back the rest.
    /// </summary>
    public Budget Begin(long maxBytes, DecodeReservation? reservation = null)
    {
        var budget = new Budget(maxBytes, Current.Value, reservation);
        Current.Value = budget;
        return budget;
    }

    protected override int GetBufferCapacityInBytes() => BlockBytes;

    public override IMemoryOwner<T> Allocate<T>(int length, AllocationOptions options = AllocationOptions.None)
    {
        var budget = Current.Value;
        if (budget is null) return inner.Allocate<T>(length, options);
        long bytes = (long)length * Unsafe.SizeOf<T>();
        budget.Take(bytes);
        try
        {
            return new Counted<T>(inner.Allocate<T>(length, options), budget, bytes);
        }
        catch
        {
            budget.Give(bytes);
            throw;
        }
    }

    public override void ReleaseRetainedResources() => inner.ReleaseRetainedResources();

    /// <summary>The bytes one decode holds, and the most it held.</summary>
    public sealed class Budget(long maxBytes, Budget? previous, DecodeReservation? reservation) : IDisposable
    {
        private readonly object gate = new();
        private bool ended;
        private long used;
        private long peak;
        private long lastRequest;

        public long Peak => Interlocked.Read(ref peak);

        /// <summary>The size of the last allocation asked for (the one refused, when one was).</summary>
        public long LastRequest => Interlocked.Read(ref lastRequest);

        internal void Take(long bytes)
        {
            Interlocked.Exchange(ref lastRequest, Interlocked.Read(ref used) + bytes);
            long now = Interlocked.Add(ref used, bytes);
            if (now > maxBytes)
            {
                Interlocked.Add(ref used, -bytes);
                throw new InvalidMemoryOperationException($"the decode needs {now:N0} bytes, its budget is {maxBytes:N0}");
            }
            long seen;
            while (now > (seen = Interlocked.Read(ref peak)) && Interlocked.CompareExchange(ref peak, now, seen) != seen)
            {
            }
        }

        internal void Give(long bytes)
        {
            if (Interlocked.Add(ref used, -bytes) != 0 || reservation is null) return;
            lock (gate)
            {
                if (ended && Interlocked.Read(ref used) == 0) reservation.Dispose();
            }
        }

        /// <summary>Ends the decode: later allocations on this flow are not counted; the reservation keeps only what the result holds.</summary>
        public void Dispose()
        {
            Current.Value = previous;
            if (reservation is null) return;
            lock (gate)
            {
                if (ended) return;
                ended = true;
                long now = Interlocked.Read(ref used);
                if (now == 0) reservation.Dispose();
                else reservation.ShrinkTo(now);
            }
        }
    }

    private sealed class Counted<T>(IMemoryOwner<T> owner, Budget budget, long bytes) : IMemoryOwner<T>
    {
        private int disposed;

        public Memory<T> Memory => owner.Memory;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0) return;
            owner.Dispose();
            budget.Give(bytes);
        }
    }
}
