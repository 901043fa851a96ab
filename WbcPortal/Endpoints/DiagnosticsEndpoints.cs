using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WbcPortal.Engine.Compute;
using WbcPortal.Security;

namespace WbcPortal.Endpoints;

/// <summary>
/// <c>GET /diagnostics/memory</c>, for Admins: this node's resident memory (VmRSS), its managed heap and the browser circuits it
/// holds (opened, and connected now). <c>?collect=true</c> first runs a full blocking collection, so the heap figure is what is
/// still reachable (what <c>bench --only circuits</c> reads per step); it pauses every request for a moment, so only an Admin may ask.
/// </summary>
public static class DiagnosticsEndpoints
{
    public const string MemoryPath = "/diagnostics/memory";

    public static IEndpointRouteBuilder MapDiagnosticsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(MemoryPath, (bool? collect, LiveCircuits circuits) =>
        {
            long residentBefore = ProcessMemory.ResidentBytes();
            if (collect == true)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            }
            var info = GC.GetGCMemoryInfo();
            return Results.Ok(new MemoryDiagnostics(
                Environment.ProcessId,
                residentBefore,
                ProcessMemory.ResidentBytes(),
                GC.GetTotalMemory(forceFullCollection: false),
                info.HeapSizeBytes,
                info.TotalCommittedBytes,
                collect == true,
                circuits.Open,
                circuits.Connected));
        }).RequireAuthorization(PortalAuthentication.AdminPolicy).ExcludeFromDescription();
        return app;
    }

    /// <summary>Counts this node's circuits (<see cref="LiveCircuits"/>): one singleton, one handler per circuit.</summary>
    public static IServiceCollection AddLiveCircuits(this IServiceCollection services)
    {
        services.AddSingleton<LiveCircuits>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<CircuitHandler, LiveCircuitsHandler>());
        return services;
    }
}

/// <summary>What <c>/diagnostics/memory</c> answers (bytes).</summary>
/// <param name="ResidentBytes">VmRSS when asked, before any collection.</param>
/// <param name="ResidentAfterBytes">VmRSS after the collection (the same moment when none was asked).</param>
/// <param name="ManagedBytes">Bytes the managed heap holds in objects (after the collection: reachable ones).</param>
/// <param name="HeapSizeBytes">The managed heap's size at the last collection, fragmentation included.</param>
public sealed record MemoryDiagnostics(int ProcessId, long ResidentBytes, long ResidentAfterBytes, long ManagedBytes, long HeapSizeBytes,
    long CommittedBytes, bool Collected, int CircuitsOpen, int CircuitsConnected);

/// <summary>The browser circuits this node holds: opened and not yet closed (a disconnected one is kept a while for its
/// browser to come back), and of those, connected now.</summary>
public sealed class LiveCircuits
{
    private int open;
    private int connected;

    public int Open => Volatile.Read(ref open);
    public int Connected => Volatile.Read(ref connected);

    internal void Opened() => Interlocked.Increment(ref open);
    internal void Closed() => Interlocked.Decrement(ref open);
    internal void Up() => Interlocked.Increment(ref connected);
    internal void Down() => Interlocked.Decrement(ref connected);
}

/// <summary>Tells <see cref="LiveCircuits"/> when its circuit opens, connects, disconnects and closes.</summary>
public sealed class LiveCircuitsHandler(LiveCircuits circuits) : CircuitHandler
{
    public override Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        circuits.Opened();
        return Task.CompletedTask;
    }

    public override Task OnConnectionUpAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        circuits.Up();
        return Task.CompletedTask;
    }

    public override Task OnConnectionDownAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        circuits.Down();
        return Task.CompletedTask;
    }

    public override Task OnCircuitClosedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        circuits.Closed();
        return Task.CompletedTask;
    }
}
