using Microsoft.AspNetCore.Components.Server.Circuits;

namespace WbcPortal.Services.Datasets;

/// <summary>
/// The staging leases of one Blazor circuit's uploads (scoped: one per circuit). A lease taken here is released when the
/// circuit closes or loses its browser (<see cref="CircuitUploadsHandler"/>), when the circuit's scope is disposed, or
/// earlier by its page; a lease handed over to a job (<see cref="StagingLease.HandOverToJob"/>) leaves the circuit and is
/// the job's to release.
/// </summary>
public sealed class CircuitUploads(UploadStaging staging) : IDisposable
{
    private readonly HashSet<StagingLease> leases = [];
    private readonly Lock gate = new();

    /// <summary>A staging lease owned by this circuit; see <see cref="UploadStaging.Reserve"/> for the refusals.</summary>
    /// <exception cref="InvalidDataException">Too large for one upload or for the staging space left.</exception>
    public StagingLease Reserve(long expectedBytes, string purpose)
    {
        var lease = staging.Reserve(expectedBytes, purpose);
        lease.AttachTo(Forget);
        lock (gate)
        {
            if (!lease.IsReleased) leases.Add(lease);
        }
        return lease;
    }

    /// <summary>The leases this circuit still holds (uploads not yet handed to a job).</summary>
    public int Count
    {
        get
        {
            lock (gate) return leases.Count;
        }
    }

    /// <summary>Releases every lease the circuit still holds: their copies stop and their folders are deleted.</summary>
    public void ReleaseAll(string because)
    {
        List<StagingLease> held;
        lock (gate) held = [.. leases];
        // Outside this lock: a release takes the staging's lock, which calls back into Forget.
        foreach (var lease in held) staging.Release(lease, because);
    }

    private void Forget(StagingLease lease)
    {
        lock (gate) leases.Remove(lease);
    }

    public void Dispose() => ReleaseAll("the page's circuit ended");
}

/// <summary>Releases a circuit's upload leases when its browser goes: the connection drops or the circuit closes.</summary>
public sealed class CircuitUploadsHandler(CircuitUploads uploads) : CircuitHandler
{
    public override Task OnConnectionDownAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        // An upload's bytes come over this connection: once it is down the upload cannot go on.
        uploads.ReleaseAll("the browser's connection dropped");
        return Task.CompletedTask;
    }

    public override Task OnCircuitClosedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        uploads.ReleaseAll("the browser tab was closed");
        return Task.CompletedTask;
    }
}
