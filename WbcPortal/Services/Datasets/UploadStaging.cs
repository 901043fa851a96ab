using Microsoft.AspNetCore.Components.Forms;
using WbcPortal.Options;

namespace WbcPortal.Services.Datasets;

/// <summary>
/// Copies browser uploads to a private folder under the data folder (<c>uploads/&lt;id&gt;</c>) before the import or
/// evaluation job reads them, so the job runs off the circuit and a closed tab cannot cut it short. Each folder is a
/// <see cref="StagingLease"/> from <see cref="Reserve"/>: held by the upload that copies into it (a circuit's
/// <see cref="CircuitUploads"/>, a page, a request), then by the job queued on it, and released (reservation given back,
/// folder deleted) exactly once when its owner goes: a closed circuit, a left page, a finished job. Anything else under
/// <c>uploads/</c> is a leftover (a stopped portal, a failed copy) that <see cref="Sweep"/> removes: after every dataset
/// job, when an upload needs the room, on the Storage page, and once at start-up. An upload that copies nothing for
/// <c>Import:StagingIdleMinutes</c> counts as not in use: its reservation stops blocking others and a sweep releases it.
/// The space all staged uploads may take together is capped by <c>Import:MaxStagingBytes</c>.
/// </summary>
public sealed class UploadStaging(StorageOptions storage, Microsoft.Extensions.Options.IOptions<ImportOptions> import, TimeProvider clock, ILogger<UploadStaging> logger)
{
    private readonly Dictionary<string, StagingLease> leases = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    public long MaxUploadBytes => import.Value.MaxUploadBytes;

    public long MaxStagingBytes => import.Value.MaxStagingBytes;

    /// <summary>How long an upload may copy nothing before it counts as not in use (<c>Import:StagingIdleMinutes</c>).</summary>
    public TimeSpan IdleAfter => TimeSpan.FromMinutes(import.Value.StagingIdleMinutes);

    /// <summary>
    /// Where this process stages uploads: <c>uploads/</c>, or <c>uploads/NODE/</c> in a data folder several nodes share (a
    /// sweep never touches another live node's uploads; a job on another node reads the folder its record names).
    /// </summary>
    public string Root => storage.SharedByNodes
        ? Path.Combine(WbcPortal.Storage.DataFolderLayout.UploadsFolder(storage.DataDirectoryFullPath), WbcPortal.Storage.DataFolderLayout.NodeFolderName(WbcPortal.Storage.ProcessIdentity.Current))
        : WbcPortal.Storage.DataFolderLayout.UploadsFolder(storage.DataDirectoryFullPath);

    /// <summary>Whether <paramref name="full"/> is a staged upload's folder: under this node's root, or (shared folder) under another node's.</summary>
    private bool IsStagedFolder(string full)
    {
        var parent = Path.GetDirectoryName(full);
        if (string.Equals(parent, Normalise(Root), StringComparison.Ordinal)) return true;
        return storage.SharedByNodes && parent is not null
            && string.Equals(Path.GetDirectoryName(parent), Normalise(WbcPortal.Storage.DataFolderLayout.UploadsFolder(storage.DataDirectoryFullPath)), StringComparison.Ordinal);
    }

    internal DateTimeOffset Now => clock.GetUtcNow();

    /// <summary>
    /// A new staging folder for an upload of <paramref name="expectedBytes"/>, reserved until the lease is released. Refused
    /// with a reason, before anything is copied, when the upload is larger than one upload may be or would take the staging
    /// area over its quota (leftovers and idle uploads are swept first). The caller owns the lease: dispose it, or hand it to
    /// a circuit (<see cref="CircuitUploads.Reserve"/>) or a job (<see cref="StagingLease.HandOverToJob"/>).
    /// </summary>
    /// <param name="purpose">What the upload is for, as people read it ("upload of cells.zip").</param>
    /// <exception cref="InvalidDataException">Too large for one upload or for the staging space left.</exception>
    public StagingLease Reserve(long expectedBytes, string purpose)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expectedBytes);
        if (expectedBytes > MaxUploadBytes)
        {
            throw new InvalidDataException($"the upload is {Bytes(expectedBytes)}; one upload may be at most {Bytes(MaxUploadBytes)} (Import:MaxUploadBytes)");
        }
        lock (gate)
        {
            long used = UsedBytesLocked();
            if (used + expectedBytes > MaxStagingBytes)
            {
                SweepLocked();
                used = UsedBytesLocked();
            }
            if (used + expectedBytes > MaxStagingBytes)
            {
                throw new InvalidDataException($"the upload needs {Bytes(expectedBytes)} of staging space, but {Bytes(used)} of the {Bytes(MaxStagingBytes)} allowed (Import:MaxStagingBytes) is taken by uploads in progress or still being imported; wait for those imports to finish, or import a smaller zip");
            }
            var folder = Path.Combine(Root, Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            var lease = new StagingLease(this, folder, expectedBytes, purpose, Now);
            leases[folder] = lease;
            return lease;
        }
    }

    /// <summary>
    /// Takes a staged folder back for a queued job after a restart (before the start-up sweep), held by the job. Null when
    /// the folder is not a staging folder or is gone: the job then fails with the import's own "not found" reason.
    /// </summary>
    public StagingLease? Adopt(string folder, string purpose)
    {
        var full = Normalise(folder);
        if (!string.Equals(Path.GetDirectoryName(full), Normalise(Root), StringComparison.Ordinal) || !Directory.Exists(full)) return null;
        lock (gate)
        {
            if (leases.TryGetValue(full, out var held)) return held;
            var lease = new StagingLease(this, full, DirectorySize(full), purpose, Now) { Holder = StagingLeaseHolder.Job };
            leases[full] = lease;
            return lease;
        }
    }

    /// <summary>Deletes a staged folder no lease of this process holds (a job of another node, or of an earlier run of this one).</summary>
    public void DeleteStaged(string folder)
    {
        var full = Normalise(folder);
        if (!IsStagedFolder(full)) return;
        lock (gate)
        {
            if (leases.ContainsKey(full)) return;
        }
        TryDelete(full);
    }

    /// <summary>Whether a staging folder is held by an upload that is not idle, or by a job that has not ended.</summary>
    public bool IsInUse(string folder) => UseOf(folder) is { InUse: true };

    /// <summary>Who holds a staging folder, for people ("uploading", "idle: ..."), or null when nothing does (a leftover).</summary>
    public (bool InUse, string Use)? UseOf(string folder)
    {
        lock (gate)
        {
            if (!leases.TryGetValue(Normalise(folder), out var lease)) return null;
            if (lease.HeldByJob) return (true, $"held by the job of its {lease.Purpose}");
            var now = Now;
            if (lease.IsIdle(now, IdleAfter))
            {
                return (false, $"idle: its {lease.Purpose} has copied nothing for {(now - lease.LastActivity).TotalMinutes:0} min (Import:StagingIdleMinutes {IdleAfter.TotalMinutes:0}), so it is not in use");
            }
            return (true, $"in use by its {lease.Purpose}");
        }
    }

    /// <summary>Bytes the staging area holds or has promised: each folder's size on disk, or its reservation while larger and in use.</summary>
    public long UsedBytes()
    {
        lock (gate) return UsedBytesLocked();
    }

    private long UsedBytesLocked()
    {
        long total = 0;
        var now = Now;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(Root))
        {
            foreach (var dir in Directory.EnumerateDirectories(Root))
            {
                seen.Add(dir);
                long size = DirectorySize(dir);
                // An idle upload's reservation no longer blocks others; what it wrote still takes the disk until swept.
                total += leases.TryGetValue(dir, out var lease) && !lease.IsIdle(now, IdleAfter) ? Math.Max(size, lease.ReservedBytes) : size;
            }
            foreach (var file in Directory.EnumerateFiles(Root)) total += SafeLength(file);
        }
        total += leases.Values.Where(l => !seen.Contains(l.Folder) && !l.IsIdle(now, IdleAfter)).Sum(l => l.ReservedBytes);
        return total;
    }

    /// <summary>
    /// Streams one browser file into <paramref name="destination"/> (inside the lease's folder), reporting bytes copied. Each
    /// chunk keeps the lease from going idle; a lease released meanwhile (a closed circuit, a left page, an idle upload swept)
    /// stops the copy with a <see cref="StagingReleasedException"/> and leaves nothing behind.
    /// </summary>
    public async Task CopyAsync(IBrowserFile file, StagingLease lease, string destination, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (file.Size > MaxUploadBytes) throw new InvalidDataException($"{file.Name} is {file.Size:N0} bytes; uploads are limited to {MaxUploadBytes:N0}.");
        lease.ThrowIfReleased();
        string target = Path.GetFullPath(destination);
        if (!target.StartsWith(lease.Folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new ArgumentException("An upload is only written inside its own staging folder.", nameof(destination));
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Released);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await using var input = file.OpenReadStream(MaxUploadBytes, linked.Token);
            await using var output = File.Create(target);
            var buffer = new byte[256 * 1024];
            long copied = 0;
            int read;
            while ((read = await input.ReadAsync(buffer, linked.Token)) > 0)
            {
                await output.WriteAsync(buffer.AsMemory(0, read), linked.Token);
                copied += read;
                lease.Touch();
                progress?.Report(copied);
            }
        }
        catch (Exception ex) when (lease.IsReleased)
        {
            // Released mid-copy: whatever this copy wrote after the folder was deleted goes too (the file is closed by now).
            TryDelete(lease.Folder);
            throw new StagingReleasedException(lease.Purpose, lease.ReleasedBecause, ex);
        }
        lease.ThrowIfReleased();
    }

    /// <summary>A file name safe to create: the last path segment, with anything odd replaced.</summary>
    public static string SafeFileName(string name)
    {
        var last = Path.GetFileName(name.Replace('\\', '/'));
        var cleaned = new string(last.Select(c => char.IsLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()).TrimStart('.');
        return cleaned.Length == 0 ? "file" : cleaned[..Math.Min(cleaned.Length, 150)];
    }

    /// <summary>Hands a lease from its upload to its job (see <see cref="StagingLease.HandOverToJob"/>).</summary>
    internal void HandOver(StagingLease lease)
    {
        lock (gate)
        {
            lease.ThrowIfReleased();
            lease.Detach();
            lease.Holder = StagingLeaseHolder.Job;
        }
    }

    /// <summary>Releases a lease once: its owner lets go, its copy stops, its reservation is given back and its folder deleted.</summary>
    internal void Release(StagingLease lease, string because)
    {
        bool uploading;
        lock (gate)
        {
            uploading = lease.Holder == StagingLeaseHolder.Upload;
            if (!RevokeLocked(lease, because)) return;
        }
        lease.CancelCopies();
        TryDelete(lease.Folder);
        // An upload cut short is worth a line; a job giving its upload back is routine.
        if (uploading) logger.LogInformation("Released the staging space of the {Purpose} ({Because})", lease.Purpose, because);
        else logger.LogDebug("Released the staging space of the {Purpose} ({Because})", lease.Purpose, because);
    }

    /// <summary>Marks a lease released and forgets it; false when it already was.</summary>
    private bool RevokeLocked(StagingLease lease, string because)
    {
        if (lease.IsReleased) return false;
        lease.Holder = StagingLeaseHolder.Released;
        lease.ReleasedBecause = because;
        leases.Remove(lease.Folder);
        lease.Detach();
        return true;
    }

    /// <summary>
    /// Removes everything under <c>uploads/</c> no upload or job holds, idle uploads included (their leases are released);
    /// returns the bytes freed.
    /// </summary>
    public long Sweep()
    {
        long freed;
        lock (gate) freed = SweepLocked();
        if (freed > 0) logger.LogInformation("Swept {Bytes} of staged uploads no import uses", Bytes(freed));
        return freed;
    }

    private long SweepLocked()
    {
        var now = Now;
        var idle = leases.Values.Where(l => l.IsIdle(now, IdleAfter)).ToList();
        foreach (var lease in idle)
        {
            RevokeLocked(lease, $"it copied nothing for {IdleAfter.TotalMinutes:0} minutes (Import:StagingIdleMinutes)");
            lease.CancelCopies();
            logger.LogInformation("Released the staging space of an idle {Purpose}", lease.Purpose);
        }
        if (!Directory.Exists(Root)) return 0;
        long freed = 0;
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            if (leases.ContainsKey(dir)) continue;
            long size = DirectorySize(dir);
            if (TryDelete(dir)) freed += size;
        }
        foreach (var file in Directory.EnumerateFiles(Root))
        {
            long size = SafeLength(file);
            try
            {
                File.Delete(file);
                freed += size;
            }
            catch (IOException)
            {
            }
        }
        return freed;
    }

    /// <summary>
    /// A data folder several nodes share: the staged uploads of nodes that are gone (<see cref="WbcPortal.Storage.DataFolderLayout.IsAbandonedNodeFolder(string, string)"/>),
    /// but those a job still to run reads (<paramref name="keep"/>), are deleted. Returns the bytes freed.
    /// </summary>
    public long SweepAbandonedNodes(IReadOnlySet<string> keep)
    {
        var uploads = WbcPortal.Storage.DataFolderLayout.UploadsFolder(storage.DataDirectoryFullPath);
        if (!storage.SharedByNodes || !Directory.Exists(uploads)) return 0;
        long freed = 0;
        foreach (var nodeRoot in Directory.EnumerateDirectories(uploads))
        {
            if (string.Equals(Normalise(nodeRoot), Normalise(Root), StringComparison.Ordinal)) continue;
            if (!WbcPortal.Storage.DataFolderLayout.IsAbandonedNodeFolder(Path.GetFileName(nodeRoot), nodeRoot)) continue;
            foreach (var dir in Directory.EnumerateDirectories(nodeRoot))
            {
                if (keep.Contains(Normalise(dir))) continue;
                long size = DirectorySize(dir);
                if (TryDelete(dir)) freed += size;
            }
            if (!Directory.EnumerateFileSystemEntries(nodeRoot).Any()) TryDelete(nodeRoot);
        }
        return freed;
    }

    private static string Normalise(string folder) => Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);

    /// <summary>
    /// The start-up sweep: at start no upload or import is in use yet (the data folder's lock keeps any other portal or
    /// verb out), so every staged upload is a leftover of a stopped or crashed portal. Call once before serving pages.
    /// </summary>
    public Task<long> SweepAsync(CancellationToken cancellationToken = default) => Task.Run(Sweep, cancellationToken);

    internal static long DirectorySize(string dir)
    {
        long total = 0;
        try
        {
            foreach (var file in Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint }))
            {
                total += SafeLength(file);
            }
        }
        catch (IOException)
        {
        }
        return total;
    }

    private static long SafeLength(string file)
    {
        try
        {
            return new FileInfo(file).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private bool TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("A staged upload could not be removed now ({Reason}); the next sweep tries again", ex.Message);
            return false;
        }
    }

    internal static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GB",
    };
}
