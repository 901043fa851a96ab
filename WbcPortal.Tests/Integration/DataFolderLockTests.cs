using System.Net;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 24, item 4 (E): the data folder's lock is the folder itself (a <c>flock</c> on its directory), so no rename or
/// deletion of a file in it lets a second writer in; the refusal names the holder's pid even when its description is
/// gone or names someone else; and the kernel lets the lock go when its holder is killed.
/// </summary>
public sealed class DataFolderLockTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-lock");

    public void Dispose() => data.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Description => Path.Combine(data.Path, DataFolderLock.HolderFileName);

    [Fact]
    public async Task A_writer_is_refused_whatever_is_done_to_the_lock_files_and_gets_in_once_the_holder_is_killed()
    {
        var portal = await PortalProcess.StartOnAsync(data.Path);
        try
        {
            Assert.Equal(portal.ProcessId, DataFolderLock.ReadHolder(data.Path)?.Identity?.ProcessId);

            // The description renamed away (and the old lock file, were there one): still refused, still named.
            File.Move(Description, Path.Combine(data.Path, "renamed.json"));
            string legacy = Path.Combine(data.Path, DataFolderLock.LockFileName);
            if (File.Exists(legacy)) File.Move(legacy, legacy + ".old");
            await AssertRefusedNamingAsync(portal.ProcessId);

            // Deleted outright, and then a forged one naming another process: the kernel's lock table decides.
            File.Delete(Path.Combine(data.Path, "renamed.json"));
            await AssertRefusedNamingAsync(portal.ProcessId);
            File.WriteAllText(Description, """{"Process":"elsewhere:1:1","Purpose":"WbcPortal forged","Since":"2020-01-01T00:00:00+00:00","Command":"forged"}""");
            await AssertRefusedNamingAsync(portal.ProcessId);

            // A second portal is refused too.
            var (code, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path);
            Assert.Equal(3, code);
            Assert.Contains($"process {portal.ProcessId} on {Environment.MachineName}", output);
            using var http = portal.CreateAnonymousClient();
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/account/signin", Ct)).StatusCode);

            // kill -9: no clean-up ran, and the next writer gets in.
            await portal.KillAsync();
        }
        finally
        {
            await portal.DisposeAsync();
        }
        Assert.False(DataFolderLock.IsHeld(data.Path));
        var after = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(120), "storage", "--delete-staging", "--data-dir", data.Path);
        Assert.True(after.ExitCode == 0, after.Stderr);
        await using var next = await PortalProcess.StartOnAsync(data.Path);
        Assert.Equal(next.ProcessId, DataFolderLock.HolderProcessId(data.Path));
    }

    [Fact]
    public void A_second_lock_in_the_same_process_is_refused_after_the_description_is_deleted_and_let_go_on_dispose()
    {
        using (var held = DataFolderLock.Acquire(data.Path, "WbcPortal test holder", "held by the test"))
        {
            File.Delete(Description);
            var refused = Assert.Throws<DataFolderLockedException>(() => DataFolderLock.Acquire(data.Path, "WbcPortal second"));
            if (OperatingSystem.IsLinux())
            {
                Assert.Equal(Environment.ProcessId, refused.HolderProcessId);
                Assert.Contains($"process {Environment.ProcessId} on {Environment.MachineName}", refused.Message);
            }
            Assert.True(DataFolderLock.IsHeld(data.Path));
            Assert.True(DataFolderLock.IsHeldByThisProcess(data.Path));
            // No file in the folder is the lock: none is made for it.
            Assert.False(File.Exists(Path.Combine(data.Path, DataFolderLock.LockFileName)));
        }
        Assert.False(DataFolderLock.IsHeld(data.Path));
        using var again = DataFolderLock.Acquire(data.Path, "WbcPortal again");
        Assert.Equal("WbcPortal again", DataFolderLock.ReadHolder(data.Path)?.Purpose);
    }

    [Fact]
    public void The_holder_is_read_from_the_lock_table_by_device_and_inode_and_a_waiter_is_not_a_holder()
    {
        string[] table =
        [
            "1: POSIX  ADVISORY  READ 17158 00:28:22 128 128",
            "2: FLOCK  ADVISORY  WRITE 4242 fe:01:11658363 0 EOF",
            "2: -> FLOCK  ADVISORY  WRITE 5151 00:2a:17 0 EOF",
            "3: FLOCK  ADVISORY  READ 6161 00:2a:17 0 EOF",
            "4: FLOCK  ADVISORY  WRITE 7171 00:2a:17 0 EOF",
        ];
        Assert.Equal(7171, DataFolderLock.HolderIn(table, (0x00, 0x2a, 17)));
        Assert.Equal(4242, DataFolderLock.HolderIn(table, (0xfe, 0x01, 11658363)));
        Assert.Null(DataFolderLock.HolderIn(table, (0x00, 0x2a, 18)));
        Assert.Null(DataFolderLock.HolderIn(table[..4], (0x00, 0x2a, 17)));
    }

    private async Task AssertRefusedNamingAsync(int holderPid)
    {
        var (code, stdout, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(120), "storage", "--delete-staging", "--data-dir", data.Path);
        Assert.Equal(3, code);
        Assert.Empty(stdout);
        string line = stderr.Trim();
        Assert.Single(line.Split('\n'));
        Assert.Contains($"is in use by ", line);
        Assert.Contains($"process {holderPid} on {Environment.MachineName}", line);
        Assert.DoesNotContain("forged", line);
    }
}
