using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace WbcPortal.Storage;

/// <summary>Who holds a data folder: written beside the lock so a refused process can name it.</summary>
public sealed record DataFolderHolder(string Process, string Purpose, DateTimeOffset Since, string Command)
{
    public ProcessIdentity? Identity => ProcessIdentity.Parse(Process);

    public string Describe()
    {
        var id = Identity;
        string who = id is null ? "another process" : $"process {id.ProcessId.ToString(CultureInfo.InvariantCulture)} on {id.Host}";
        return $"{Purpose} ({who}, since {Since.ToLocalTime():yyyy-MM-dd HH:mm:ss}: {Command})";
    }
}

/// <summary>The data folder is held by another process.</summary>
public sealed class DataFolderLockedException(string dataDirectory, DataFolderHolder? holder, int? holderProcessId = null)
    : IOException($"The data folder {dataDirectory} is in use by {DataFolderLock.DescribeHolder(holder, holderProcessId)}. " +
                  "One process writes a data folder at a time: wait for it to finish or stop it; to browse and watch meanwhile, start the portal with --read-only (read-only verbs such as info also work).")
{
    public DataFolderHolder? Holder { get; } = holder;

    /// <summary>The holder's process id as the kernel's lock table gives it (Linux), whatever its description file says.</summary>
    public int? HolderProcessId { get; } = holderProcessId;
}

/// <summary>
/// One owner of a data folder: the portal and every CLI verb that writes take this exclusive lock before they
/// touch the database or the stored files, and hold it until they exit. On Linux the lock is a <c>flock</c> on the
/// data folder itself (its directory descriptor), not on a file in it: no rename or deletion of any file lets a
/// second writer in, and the kernel releases it when its process dies, however it dies, so a killed process never
/// leaves a stale lock. Its holder's description (<c>.wbcportal.lock.json</c>: process, purpose, since, command) is
/// written beside it, atomically and best-effort (a full disk must not fail the lock); a refused process names the
/// holder from it, or, when it is missing or names another process, from the kernel's lock table (<c>/proc/locks</c>).
/// </summary>
public sealed class DataFolderLock : IDisposable
{
    /// <summary>The lock file of other systems (and of versions before the folder itself was locked); unused on Linux.</summary>
    public const string LockFileName = ".wbcportal.lock";
    public const string HolderFileName = ".wbcportal.lock.json";

    private readonly IDisposable osLock;
    private readonly string dataDirectory;

    private DataFolderLock(IDisposable osLock, string dataDirectory, DataFolderHolder holder)
    {
        this.osLock = osLock;
        this.dataDirectory = dataDirectory;
        Holder = holder;
    }

    public DataFolderHolder Holder { get; }

    /// <summary>Takes the folder's lock or throws <see cref="DataFolderLockedException"/> naming its holder.</summary>
    public static DataFolderLock Acquire(string dataDirectory, string purpose, string? command = null)
    {
        Directory.CreateDirectory(dataDirectory);
        var osLock = TryLock(dataDirectory) ?? throw Refusal(dataDirectory);
        var holder = new DataFolderHolder(ProcessIdentity.Current.ToString(), purpose, DateTimeOffset.UtcNow,
            command ?? string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
        TryDescribe(dataDirectory, holder);
        return new DataFolderLock(osLock, dataDirectory, holder);
    }

    /// <summary>The holder last written, or null when none is known (no file, or one that does not parse).</summary>
    public static DataFolderHolder? ReadHolder(string dataDirectory)
    {
        try
        {
            return JsonSerializer.Deserialize<DataFolderHolder>(File.ReadAllText(Path.Combine(dataDirectory, HolderFileName)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The holder as far as it can be known: its description when the kernel's lock table agrees (or cannot be read),
    /// else null with <paramref name="processId"/> from that table.
    /// </summary>
    public static DataFolderHolder? FindHolder(string dataDirectory, out int? processId)
    {
        processId = HolderProcessId(dataDirectory);
        var described = ReadHolder(dataDirectory);
        if (processId is null) return described;
        // A description of another process (a stale or copied file) says nothing about who holds the folder now.
        return described?.Identity is { } id && id.ProcessId == processId && id.Host == Environment.MachineName ? described : null;
    }

    /// <summary>True when some live process (this one included) holds the folder's lock now; takes nothing.</summary>
    public static bool IsHeld(string dataDirectory)
    {
        if (!Directory.Exists(dataDirectory)) return false;
        if (OperatingSystem.IsLinux() && LockTableKey(dataDirectory) is { } key && ReadLockTable() is { } table)
        {
            return HolderIn(table, key) is not null;
        }
        // No lock table to read: try the lock and let it go at once.
        using var probe = TryLock(dataDirectory);
        return probe is null;
    }

    /// <summary>True when this process holds the folder's lock.</summary>
    public static bool IsHeldByThisProcess(string dataDirectory)
    {
        int? pid = HolderProcessId(dataDirectory);
        return pid is not null ? pid == Environment.ProcessId : ReadHolder(dataDirectory)?.Process == ProcessIdentity.Current.ToString();
    }

    /// <summary>The id of the process that holds the folder's lock, from the kernel's lock table (Linux); null when none does or it cannot be read.</summary>
    public static int? HolderProcessId(string dataDirectory)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists(dataDirectory)) return null;
        return LockTableKey(dataDirectory) is { } key && ReadLockTable() is { } table ? HolderIn(table, key) : null;
    }

    /// <summary>"the holder's description", or "process PID on HOST (command line)" when only its id is known.</summary>
    public static string DescribeHolder(DataFolderHolder? holder, int? processId)
    {
        if (holder is not null) return holder.Describe();
        if (processId is not { } pid) return "another WbcPortal process";
        string program = ProgramOf(pid) is { Length: > 0 } p ? $"{p}; " : "";
        return $"process {pid.ToString(CultureInfo.InvariantCulture)} on {Environment.MachineName} ({program}{HolderFileName} does not describe it)";
    }

    public void Dispose()
    {
        try
        {
            if (ReadHolder(dataDirectory)?.Process == Holder.Process) File.Delete(Path.Combine(dataDirectory, HolderFileName));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        osLock.Dispose();
    }

    private static DataFolderLockedException Refusal(string dataDirectory)
    {
        var holder = FindHolder(dataDirectory, out int? pid);
        return new DataFolderLockedException(dataDirectory, holder, pid);
    }

    /// <summary>The description, written to a temporary file and renamed over the old one; a failure (a full disk) leaves none.</summary>
    private static void TryDescribe(string dataDirectory, DataFolderHolder holder)
    {
        string path = Path.Combine(dataDirectory, HolderFileName);
        string temp = path + ".tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(holder));
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
                // An old description would name a process that no longer holds the folder.
                if (ReadHolder(dataDirectory)?.Process != holder.Process) File.Delete(path);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>The OS lock, or null when another open file description holds it.</summary>
    private static IDisposable? TryLock(string dataDirectory)
    {
        if (OperatingSystem.IsLinux()) return TryLockDirectory(dataDirectory);
        try
        {
            // Elsewhere a file's exclusive share mode (.NET takes an OS lock for FileShare.None).
            return new FileStream(Path.Combine(dataDirectory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
        {
            return null;
        }
    }

    private const int ORdOnly = 0, OCloExec = 0x80000;
    private const int LockEx = 2, LockNb = 4;
    private const int EWouldBlock = 11, EIntr = 4, EAcces = 13, EPerm = 1;
    private const int AtFdCwd = -100;
    private const uint StatxIno = 0x100;

    // O_DIRECTORY differs between Linux architectures (asm-generic and x86 against arm's).
    private static int ODirectory => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    private static SafeFileHandle? TryLockDirectory(string dataDirectory)
    {
        // O_CLOEXEC: a child process must not inherit the lock and keep it after this one dies.
        int fd = Native.Open(dataDirectory, ORdOnly | ODirectory | OCloExec, 0);
        if (fd < 0) throw Failure(Marshal.GetLastPInvokeError(), $"cannot open the data folder {dataDirectory} to lock it");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        while (true)
        {
            if (Native.Flock(fd, LockEx | LockNb) == 0) return handle;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr) continue;
            handle.Dispose();
            if (errno == EWouldBlock) return null;
            throw Failure(errno, $"cannot lock the data folder {dataDirectory}");
        }
    }

    private static Exception Failure(int errno, string what) => errno is EAcces or EPerm
        ? new UnauthorizedAccessException($"{what}: permission denied")
        : new IOException($"{what} (errno {errno.ToString(CultureInfo.InvariantCulture)})");

    /// <summary>The folder as <c>/proc/locks</c> names it: device major and minor, inode.</summary>
    private static (uint Major, uint Minor, ulong Inode)? LockTableKey(string dataDirectory)
    {
        var buffer = new byte[256];
        if (Native.Statx(AtFdCwd, dataDirectory, 0, StatxIno, buffer) != 0) return null;
        // struct statx: stx_ino at byte 32, stx_dev_major and stx_dev_minor at 136 and 140.
        return (BitConverter.ToUInt32(buffer, 136), BitConverter.ToUInt32(buffer, 140), BitConverter.ToUInt64(buffer, 32));
    }

    private static string[]? ReadLockTable()
    {
        try
        {
            return File.ReadAllLines("/proc/locks");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The pid of an exclusive flock on the folder: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (device in hex, inode in decimal).</summary>
    internal static int? HolderIn(IEnumerable<string> table, (uint Major, uint Minor, ulong Inode) key)
    {
        foreach (string line in table)
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6 || f[1] != "FLOCK" || f[3] != "WRITE") continue; // "->" marks a waiter, not a holder
            var device = f[5].Split(':');
            if (device.Length != 3) continue;
            if (!uint.TryParse(device[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint major)
                || !uint.TryParse(device[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint minor)
                || !ulong.TryParse(device[2], NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode)) continue;
            if ((major, minor, inode) == key && int.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) return pid;
        }
        return null;
    }

    /// <summary>
    /// The program and its verb ("dotnet WbcPortal.dll import"): the words of its command line up to the first option,
    /// never an option's value (a password may be one).
    /// </summary>
    private static string? ProgramOf(int pid)
    {
        try
        {
            var words = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            return string.Join(' ', words.TakeWhile(w => !w.StartsWith('-')).Take(3).Select(Path.GetFileName));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

        [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
        public static extern int Flock(int fd, int operation);

        [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
        public static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
    }
}
