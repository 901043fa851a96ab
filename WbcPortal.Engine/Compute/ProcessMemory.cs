using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace WbcPortal.Engine.Compute;

/// <summary>
/// The process's resident memory, and giving back what long work left behind. A training run frees its tensors, but the
/// managed heap keeps its large arrays until a compacting collection and glibc keeps freed native blocks (TorchSharp's,
/// ONNX Runtime's) in its arenas until <c>malloc_trim</c>: without both an idle portal held 3.5 GB after an afternoon of
/// runs (issue 25). <see cref="Release"/> does both, once, after a run ends; never on a hot path.
/// </summary>
public static partial class ProcessMemory
{
    /// <summary>The resident set (VmRSS) in bytes; the working set where /proc is not there.</summary>
    public static long ResidentBytes() => Status("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>The peak resident set since start (VmHWM) in bytes, or null where /proc is not there.</summary>
    public static long? PeakBytes() => Status("VmHWM:");

    /// <summary>A compacting collection of every generation (the large-object heap too), the image pool given back, and glibc's free lists trimmed; the resident bytes after.</summary>
    public static long Release()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        SixLabors.ImageSharp.Configuration.Default.MemoryAllocator.ReleaseRetainedResources();
        if (OperatingSystem.IsLinux())
        {
            try { MallocTrim(0); }
            catch (EntryPointNotFoundException) { } // not glibc (musl): nothing to trim
            catch (DllNotFoundException) { }
        }
        return ResidentBytes();
    }

    private static long? Status(string field)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        return null;
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
