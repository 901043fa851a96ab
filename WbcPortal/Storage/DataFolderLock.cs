using System.Globalization;
using System.Text.Json;

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
public sealed class DataFolderLockedException(string dataDirectory, DataFolderHolder? holder)
    : IOException($"The data folder {dataDirectory} is in use by {holder?.Describe() ?? "another WbcPortal process"}. " +
                  "One process writes a data folder at a time: wait for it to finish or stop it; to browse and watch meanwhile, start the portal with --read-only (read-only verbs such as info also work).")
{
    public DataFolderHolder? Holder { get; } = holder;
}

/// <summary>
/// One owner of a data folder: the portal and every CLI verb that writes take this exclusive lock before they
/// touch the database or the stored files, and hold it until they exit. The lock is an OS file lock
/// (<c>flock</c> through <see cref="FileShare.None"/>), so it is released by the kernel when its process dies,
/// however it dies: a killed process never leaves a stale lock. The holder's identity is written to a file beside
/// it so a refused process can say who holds the folder.
/// </summary>
public sealed class DataFolderLock : IDisposable
{
    public const string LockFileName = ".wbcportal.lock";
    public const string HolderFileName = ".wbcportal.lock.json";

    private readonly FileStream stream;
    private readonly string holderPath;

    private DataFolderLock(FileStream stream, string holderPath, DataFolderHolder holder)
    {
        this.stream = stream;
        this.holderPath = holderPath;
        Holder = holder;
    }

    public DataFolderHolder Holder { get; }

    /// <summary>Takes the folder's lock or throws <see cref="DataFolderLockedException"/> naming its holder.</summary>
    public static DataFolderLock Acquire(string dataDirectory, string purpose, string? command = null)
    {
        Directory.CreateDirectory(dataDirectory);
        string lockPath = Path.Combine(dataDirectory, LockFileName);
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new DataFolderLockedException(dataDirectory, ReadHolder(dataDirectory));
        }
        var holder = new DataFolderHolder(ProcessIdentity.Current.ToString(), purpose, DateTimeOffset.UtcNow,
            command ?? string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
        string holderPath = Path.Combine(dataDirectory, HolderFileName);
        string temp = holderPath + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(holder));
        File.Move(temp, holderPath, overwrite: true);
        return new DataFolderLock(stream, holderPath, holder);
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

    /// <summary>True when some live process holds the folder's lock now (tries it without keeping it).</summary>
    public static bool IsHeld(string dataDirectory)
    {
        string path = Path.Combine(dataDirectory, LockFileName);
        if (!File.Exists(path)) return false; // never held; a probe creates nothing (a read-only portal asks this)
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.None);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false; // cannot tell from here; the refusal of a writer will say
        }
    }

    public void Dispose()
    {
        try
        {
            if (ReadHolder(Path.GetDirectoryName(holderPath)!)?.Process == Holder.Process) File.Delete(holderPath);
        }
        catch (IOException)
        {
        }
        stream.Dispose();
    }
}
