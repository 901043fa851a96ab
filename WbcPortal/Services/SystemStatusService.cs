using System.Reflection;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Inference;
using WbcPortal.Options;
using WbcPortal.Storage;

namespace WbcPortal.Services;

/// <summary>What this installation runs on: version, compute device, usable ONNX providers, data folder, active model.</summary>
public sealed record SystemStatus(
    string Version,
    string Device,
    int TorchThreads,
    IReadOnlyList<string> OnnxProviders,
    string DataDirectory,
    string Database,
    string? ActiveModel,
    bool ReadOnly = false,
    string? FolderHolder = null,
    ServingStatus? Serving = null);

/// <summary>How classification is served: the provider its sessions run on (the first usable one), their threads, the micro-batching.</summary>
public sealed record ServingStatus(string Provider, int OnnxThreads, bool Spinning, int MicroBatchWindowMs, int MaxBatch);

public sealed class SystemStatusService(
    TorchRuntime torch,
    OnnxSessionFactory onnx,
    StorageOptions storage,
    ComputeOptions compute,
    InferenceOptions inference,
    IDbContextFactory<WbcDbContext> contexts)
{
    public static string Version { get; } =
        typeof(SystemStatusService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    public async Task<SystemStatus> GetAsync(CancellationToken cancellationToken = default)
    {
        // Probing TorchSharp and ONNX Runtime loads native libraries: keep it off the caller's thread.
        var (device, threads, providers) = await Task.Run(() => (torch.DefaultDeviceName, torch.Threads, onnx.UsableProviders), cancellationToken);
        string? active = null;
        // info is read-only: it must neither create a missing database nor fail on one another process is migrating.
        if (storage.ConnectionString is not null || File.Exists(storage.DatabasePath))
        {
            try
            {
                await using var db = await contexts.CreateDbContextAsync(cancellationToken);
                active = await db.Models.Where(m => m.IsActive).Select(m => m.Name).FirstOrDefaultAsync(cancellationToken);
            }
            catch (System.Data.Common.DbException)
            {
                active = null;
            }
        }
        string? holder = storage.ReadOnly && DataFolderLock.IsHeld(storage.DataDirectoryFullPath)
            ? DataFolderLock.DescribeHolder(DataFolderLock.FindHolder(storage.DataDirectoryFullPath, out int? holderPid), holderPid)
            : null;
        var serving = new ServingStatus(providers[0], compute.OnnxThreads > 0 ? compute.OnnxThreads : Environment.ProcessorCount, compute.OnnxSpinning, inference.MicroBatchWindowMs, inference.MaxBatch);
        return new SystemStatus(Version, device, threads, providers, storage.DataDirectoryFullPath, storage.DatabaseDescription, active, storage.ReadOnly, holder, serving);
    }
}
