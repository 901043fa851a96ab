using System.Globalization;

namespace WbcPortal.Storage;

/// <summary>
/// Who a process is, in a form another process can check later: host, process id and the process's start
/// time (so a recycled pid is not taken for the original). Used by the data-folder lock and run leases.
/// </summary>
public sealed record ProcessIdentity(string Host, int ProcessId, long StartTicks)
{
    public static ProcessIdentity Current { get; } = new(Environment.MachineName, Environment.ProcessId, StartTicksOf(Environment.ProcessId) ?? 0);

    /// <summary>"host:pid:start", as stored in run leases and the lock's holder file.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Host}:{ProcessId}:{StartTicks}");

    public static ProcessIdentity? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(':');
        if (parts.Length < 3) return null;
        if (!int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) return null;
        if (!long.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out long start)) return null;
        return new ProcessIdentity(string.Join(':', parts[..^2]), pid, start);
    }

    /// <summary>
    /// False when this process is certainly gone: same host, and no process with that id, or one started at
    /// another time. A process on another host cannot be checked and is taken as alive.
    /// </summary>
    public bool IsAlive()
    {
        if (!string.Equals(Host, Environment.MachineName, StringComparison.Ordinal)) return true;
        if (ProcessId == Environment.ProcessId) return StartTicks == Current.StartTicks;
        long? start = StartTicksOf(ProcessId);
        if (start is null) return !OperatingSystem.IsLinux() && ProcessExists(ProcessId);
        return start == StartTicks;
    }

    /// <summary>The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); null when it does not exist.</summary>
    private static long? StartTicksOf(int pid)
    {
        if (!OperatingSystem.IsLinux()) return ProcessExists(pid) ? 0 : null;
        try
        {
            string stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(rest[19], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static bool ProcessExists(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
