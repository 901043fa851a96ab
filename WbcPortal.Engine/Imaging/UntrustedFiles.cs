using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace WbcPortal.Engine.Imaging;

/// <summary>What a path names, as the file system says (following links).</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    Other,
}

/// <summary>
/// Files offered by users (an imported or evaluated folder): only regular, readable files are read. A FIFO, a device
/// or a socket is refused from its type alone, never opened (opening a FIFO blocks until a writer comes; reading a
/// device may never end). .NET does not expose the file type, so on Linux it is read with <c>statx</c>; the open
/// itself is non-blocking and checks the type again on the open descriptor, so a file swapped for a FIFO between
/// the listing and the read is refused too. On other systems the type falls back to what .NET can tell.
/// </summary>
public static partial class UntrustedFiles
{
    private const int AtFdCwd = -100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1, StatxMode = 0x2;
    private const int ModeOffset = 28; // stx_mode: u16 at byte 28 of struct statx, on every Linux architecture
    private const int SIfMt = 0xF000, SIfReg = 0x8000, SIfDir = 0x4000, SIfIfo = 0x1000, SIfChr = 0x2000, SIfBlk = 0x6000, SIfSock = 0xC000;
    private const int ORdOnly = 0, ONonBlock = 0x800, OCloExec = 0x80000; // the same on x64 and arm64
    private const int ROk = 4;
    private const int ENoEnt = 2, EAcces = 13, EPerm = 1;

    private static bool statxMissing;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);

    /// <summary>The kind of file <paramref name="path"/> names, without opening it.</summary>
    public static FileKind KindOf(string path)
    {
        if (OperatingSystem.IsLinux() && !statxMissing)
        {
            var mode = StatxModeOf(AtFdCwd, path, 0);
            if (mode is int m) return FromMode(m);
            if (mode is null && Marshal.GetLastPInvokeError() == ENoEnt) return FileKind.Missing;
        }
        if (Directory.Exists(path)) return FileKind.Directory;
        return File.Exists(path) ? FileKind.Regular : FileKind.Missing;
    }

    /// <summary>Why <paramref name="path"/> must not be read (not a regular file, or unreadable), or null when it may be; opens nothing.</summary>
    public static string? Refusal(string path)
    {
        var kind = KindOf(path);
        if (kind != FileKind.Regular) return NotRegular(kind);
        if (OperatingSystem.IsLinux() && Access(path, ROk) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is EAcces or EPerm) return "unreadable: permission denied";
        }
        return null;
    }

    /// <summary>The reason given for a file of <paramref name="kind"/>.</summary>
    public static string NotRegular(FileKind kind) => kind switch
    {
        FileKind.Missing => "the file is gone",
        FileKind.Fifo => "not a regular file (a FIFO): not read",
        FileKind.CharacterDevice => "not a regular file (a character device): not read",
        FileKind.BlockDevice => "not a regular file (a block device): not read",
        FileKind.Socket => "not a regular file (a socket): not read",
        FileKind.Directory => "not a regular file (a folder)",
        _ => "not a regular file: not read",
    };

    /// <summary>
    /// Opens a regular file for reading without ever blocking on a special one: the open is non-blocking and the
    /// open descriptor's type is checked; throws <see cref="NotARegularFileException"/> for anything else.
    /// </summary>
    public static FileStream OpenRegular(string path)
    {
        if (!OperatingSystem.IsLinux() || statxMissing)
        {
            var kind = KindOf(path);
            if (kind != FileKind.Regular) throw new NotARegularFileException(path, kind);
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        }
        int fd = Open(path, ORdOnly | ONonBlock | OCloExec, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is EAcces or EPerm) throw new UnauthorizedAccessException($"unreadable: permission denied ({path})");
            if (errno == ENoEnt) throw new FileNotFoundException($"the file is gone ({path})", path);
            throw new IOException($"cannot open {path} (errno {errno})");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var mode = StatxModeOf(fd, "", AtEmptyPath);
            var kind = mode is int m ? FromMode(m) : FileKind.Other;
            if (kind != FileKind.Regular) throw new NotARegularFileException(path, kind);
            // O_NONBLOCK means nothing for a regular file's reads; .NET reads it as any other.
            return new FileStream(handle, FileAccess.Read, 1);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static unsafe int? StatxModeOf(int dirfd, string path, int flags)
    {
        byte* buffer = stackalloc byte[256];
        new Span<byte>(buffer, 256).Clear();
        try
        {
            if (Statx(dirfd, path, flags, StatxType | StatxMode, buffer) != 0) return null;
        }
        catch (EntryPointNotFoundException)
        {
            statxMissing = true; // a libc older than 2.28
            return null;
        }
        return *(ushort*)(buffer + ModeOffset);
    }

    private static FileKind FromMode(int mode) => (mode & SIfMt) switch
    {
        SIfReg => FileKind.Regular,
        SIfDir => FileKind.Directory,
        SIfIfo => FileKind.Fifo,
        SIfChr => FileKind.CharacterDevice,
        SIfBlk => FileKind.BlockDevice,
        SIfSock => FileKind.Socket,
        _ => FileKind.Other,
    };
}

/// <summary>A path that names a FIFO, a device, a socket or anything but a regular file.</summary>
public sealed class NotARegularFileException(string path, FileKind kind) : IOException($"{UntrustedFiles.NotRegular(kind)} ({path})")
{
    public FileKind Kind { get; } = kind;
    public string Reason => UntrustedFiles.NotRegular(Kind);
}
