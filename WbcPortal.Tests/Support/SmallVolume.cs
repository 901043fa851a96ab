using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace WbcPortal.Tests.Support;

/// <summary>
/// A small tmpfs mounted for one test: a real volume that really fills up (ENOSPC from the kernel, not a fake). Needs
/// root with CAP_SYS_ADMIN; where mounting is not permitted the test is skipped and says why.
/// </summary>
public sealed class SmallVolume : IAsyncDisposable
{
    private readonly TempDirectory mountPoint;

    private SmallVolume(TempDirectory mountPoint) => this.mountPoint = mountPoint;

    public string Path => mountPoint.Path;

    /// <summary>Free space on the volume now.</summary>
    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    public static async Task<SmallVolume> MountAsync(string size)
    {
        var dir = new TempDirectory("wbc-tmpfs");
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", dir.Path);
        if (code != 0)
        {
            dir.Dispose();
            Assert.Skip($"this test needs to mount a small tmpfs (root with CAP_SYS_ADMIN): {output.Trim()}");
        }
        return new SmallVolume(dir);
    }

    /// <summary>Fills the volume to its last byte with a file beside (not in) the data folder; returns the file.</summary>
    public string Fill()
    {
        string path = System.IO.Path.Combine(Path, "filler.bin");
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.None, bufferSize: 1);
        var chunk = new byte[1024 * 1024];
        Random.Shared.NextBytes(chunk);
        foreach (int size in new[] { 1024 * 1024, 64 * 1024, 4096, 512, 1 })
        {
            try
            {
                while (true) stream.Write(chunk, 0, size);
            }
            catch (IOException)
            {
                // Full at this size: go on with a smaller one.
            }
        }
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        await RunAsync("umount", "-l", Path);
        mountPoint.Dispose();
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
    }
}
