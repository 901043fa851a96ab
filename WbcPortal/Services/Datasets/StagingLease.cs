namespace WbcPortal.Services.Datasets;

/// <summary>Who holds a <see cref="StagingLease"/> now.</summary>
public enum StagingLeaseHolder
{
    /// <summary>The upload that copies into it: a circuit, a page, a request. It may go idle.</summary>
    Upload,
    /// <summary>The job queued on the finished upload; it releases the lease when it ends, however it ends.</summary>
    Job,
    /// <summary>Released: the reservation is given back and the folder deleted.</summary>
    Released,
}

/// <summary>
/// A staging reservation and its partial folder (<c>uploads/&lt;id&gt;</c>), from <see cref="UploadStaging.Reserve"/>.
/// Exactly one owner at a time: the upload that copies into it (a circuit's <see cref="CircuitUploads"/>, a page, a
/// request's <c>finally</c>), then, once the upload is complete and its job queued, that job
/// (<see cref="HandOverToJob"/>). Disposing releases it: the reservation is given back and the folder deleted, once
/// however many owners try. An upload that copies nothing for <c>Import:StagingIdleMinutes</c> counts as not in use: its
/// reservation no longer blocks others and a sweep releases it (<see cref="Released"/> stops its copy).
/// </summary>
public sealed class StagingLease : IDisposable
{
    private readonly UploadStaging staging;
    private readonly CancellationTokenSource released = new();
    private long lastActivityTicks;
    private Action<StagingLease>? detach;

    internal StagingLease(UploadStaging staging, string folder, long reservedBytes, string purpose, DateTimeOffset now)
    {
        this.staging = staging;
        Folder = folder;
        ReservedBytes = reservedBytes;
        Purpose = purpose;
        lastActivityTicks = now.UtcTicks;
    }

    /// <summary>The lease's own folder under <c>uploads/</c>; everything the upload writes goes in it.</summary>
    public string Folder { get; }

    public long ReservedBytes { get; }

    /// <summary>What the upload is for, for people ("import of cells.zip").</summary>
    public string Purpose { get; }

    /// <summary>Changed only under the staging's lock.</summary>
    public StagingLeaseHolder Holder { get; internal set; } = StagingLeaseHolder.Upload;

    public bool HeldByJob => Holder == StagingLeaseHolder.Job;

    public bool IsReleased => Holder == StagingLeaseHolder.Released;

    /// <summary>Why the lease was released, for the upload that was still copying ("the page was left").</summary>
    public string? ReleasedBecause { get; internal set; }

    /// <summary>Cancelled when the lease is released: a copy into its folder stops there.</summary>
    public CancellationToken Released => released.Token;

    internal DateTimeOffset LastActivity => new(Interlocked.Read(ref lastActivityTicks), TimeSpan.Zero);

    /// <summary>The upload made progress: it is not idle.</summary>
    public void Touch() => Interlocked.Exchange(ref lastActivityTicks, staging.Now.UtcTicks);

    /// <summary>Idle: still held by its upload, which has copied nothing for <paramref name="idleAfter"/>.</summary>
    internal bool IsIdle(DateTimeOffset now, TimeSpan idleAfter) => Holder == StagingLeaseHolder.Upload && now - LastActivity >= idleAfter;

    /// <summary>Owned by <paramref name="onDetach"/>'s owner until it is released or handed over (called once, then).</summary>
    internal void AttachTo(Action<StagingLease> onDetach) => detach = onDetach;

    /// <summary>Called once, under the staging's lock, when the upload's owner stops owning it.</summary>
    internal void Detach() => Interlocked.Exchange(ref detach, null)?.Invoke(this);

    internal void CancelCopies()
    {
        try
        {
            released.Cancel();
        }
        catch (AggregateException)
        {
            // A copy's cancellation callback failed; the copy ends with its own error.
        }
    }

    /// <summary>
    /// The upload is complete and its job is being queued: the job owns the lease from now on and must dispose it when it
    /// ends. The upload's owner (a circuit, a page) no longer releases it. Refused when the lease was already released (an
    /// idle upload swept, a closed circuit): the upload must be sent again.
    /// </summary>
    /// <exception cref="StagingReleasedException">The lease was released before the job could take it.</exception>
    public StagingLease HandOverToJob()
    {
        staging.HandOver(this);
        return this;
    }

    /// <exception cref="StagingReleasedException">The lease was released: what was copied is gone.</exception>
    public void ThrowIfReleased()
    {
        if (IsReleased) throw new StagingReleasedException(Purpose, ReleasedBecause);
    }

    /// <summary>Gives the reservation back and deletes the folder; only the first call (of this or <see cref="Dispose"/>) does anything.</summary>
    /// <param name="because">Why, for the log and for a copy still running ("the page was left").</param>
    public void Release(string because) => staging.Release(this, because);

    /// <summary>Gives the reservation back and deletes the folder; only the first call does anything.</summary>
    public void Dispose() => Release("the upload or its job ended");
}

/// <summary>An upload's staging lease was released while it was still needed: what it copied is gone; send it again.</summary>
public sealed class StagingReleasedException(string purpose, string? because, Exception? inner = null)
    : IOException($"the {purpose} stopped: its staging space was given back ({because ?? "released"}); nothing of it was kept, upload it again", inner);
