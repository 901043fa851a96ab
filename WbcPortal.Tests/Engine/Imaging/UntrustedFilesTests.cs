using System.Diagnostics;
using System.Net.Sockets;
using WbcPortal.Engine.Imaging;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Imaging;

/// <summary>File types read with statx, and the non-blocking open that refuses anything but a regular file.</summary>
public class UntrustedFilesTests
{
    [Fact]
    public void Each_kind_of_file_is_told_without_opening_it()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "statx is Linux's");
        using var dir = new TempDirectory("wbc-kinds");
        var regular = Path.Combine(dir.Path, "a.png");
        File.WriteAllBytes(regular, [1, 2, 3]);
        var fifo = Path.Combine(dir.Path, "fifo.png");
        PngBombs.MakeFifo(fifo);
        var socketPath = Path.Combine(dir.Path, "s.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));

        Assert.Equal(FileKind.Regular, UntrustedFiles.KindOf(regular));
        Assert.Equal(FileKind.Directory, UntrustedFiles.KindOf(dir.Path));
        Assert.Equal(FileKind.Fifo, UntrustedFiles.KindOf(fifo));
        Assert.Equal(FileKind.Socket, UntrustedFiles.KindOf(socketPath));
        Assert.Equal(FileKind.CharacterDevice, UntrustedFiles.KindOf("/dev/null"));
        Assert.Equal(FileKind.Missing, UntrustedFiles.KindOf(Path.Combine(dir.Path, "nope")));

        Assert.Null(UntrustedFiles.Refusal(regular));
        Assert.Equal("not a regular file (a FIFO): not read", UntrustedFiles.Refusal(fifo));
        Assert.Equal("not a regular file (a socket): not read", UntrustedFiles.Refusal(socketPath));
        Assert.Equal("not a regular file (a character device): not read", UntrustedFiles.Refusal("/dev/zero"));
    }

    [Fact]
    public void Opening_a_fifo_or_a_device_throws_at_once_and_a_regular_file_reads()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "statx is Linux's");
        using var dir = new TempDirectory("wbc-open");
        var fifo = Path.Combine(dir.Path, "fifo");
        PngBombs.MakeFifo(fifo);
        var watch = Stopwatch.StartNew();
        var ex = Assert.Throws<NotARegularFileException>(() => UntrustedFiles.OpenRegular(fifo));
        Assert.Equal(FileKind.Fifo, ex.Kind);
        Assert.Equal(FileKind.CharacterDevice, Assert.Throws<NotARegularFileException>(() => UntrustedFiles.OpenRegular("/dev/zero")).Kind);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 2);

        var file = Path.Combine(dir.Path, "a.bin");
        File.WriteAllBytes(file, [7, 8, 9]);
        using var stream = UntrustedFiles.OpenRegular(file);
        Assert.Equal(3, stream.Length);
        Assert.Equal(7, stream.ReadByte());
    }
}
