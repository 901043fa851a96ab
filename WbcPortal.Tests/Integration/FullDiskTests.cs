using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 24, item 4 (D): a full disk has a way out through the product. On a real tmpfs filled to its last byte the
/// portal starts read-only and says why on every page (sign-in included) and in its log, refuses changes with that
/// reason, and <c>storage --delete-dataset</c> (the real executable) frees space thanks to the data folder's reserve;
/// without a reserve both fail with one line, never a stack trace.
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    private const long Megabyte = 1024 * 1024;

    // A 24 MB volume: the reserve and the free-space floor scaled down with it (the defaults are 32 and 16 MB).
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Storage__ReserveMegabytes"] = "4",
        ["Storage__MinFreeMegabytes"] = "4",
    };

    private static readonly string[] PortalSettings = ["--Storage:ReserveMegabytes", "4", "--Storage:MinFreeMegabytes", "4"];

    private readonly TempDirectory source = new("wbc-full-src");

    public void Dispose() => source.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_full_disk_starts_the_portal_read_only_saying_why_and_the_delete_verb_frees_space()
    {
        await using var volume = await SmallVolume.MountAsync("24m");
        string folder = Path.Combine(volume.Path, "data");
        // A dataset bigger than the reserve and the floor together, so deleting it leaves room to make the reserve again.
        for (int i = 0; i < 110; i++) ImportFixtures.Write(source.Path, $"EOS/e_{i}.png", ImportFixtures.Png(500 + i, 320, 240));
        long sourceBytes = Directory.GetFiles(source.Path, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(sourceBytes > 7 * Megabyte, $"the images make {sourceBytes} bytes");
        var import = await RunAsync(Settings, "import", source.Path, "--name", "cells", "--data-dir", folder);
        Assert.True(import.Code == 0, import.Stderr);
        Assert.Equal(4 * Megabyte, new FileInfo(Path.Combine(folder, DataFolderSpace.ReserveFileName)).Length);
        string token = await PortalProcess.CreateTokenAsync(folder, PortalProcess.AdminUser, WbcPortal.Services.Accounts.PortalRole.Admin);
        SqliteConnection.ClearAllPools();
        string[] storedBefore = StoredFiles(folder);
        Assert.NotEmpty(storedBefore);

        volume.Fill();
        Assert.True(volume.FreeBytes < 64 * 1024, $"{volume.FreeBytes} bytes still free");

        await using (var portal = await PortalProcess.StartOnAsync(folder, PortalSettings))
        {
            // Before sign-in: the sign-in page has its own layout, and says it too.
            using var anonymous = portal.CreateAnonymousClient();
            string signIn = await GetPageAsync(anonymous, "/account/signin");
            AssertBanner(signIn);

            using var http = portal.CreateClientWithToken(token);
            AssertBanner(await GetPageAsync(http, "/"));
            string datasets = await GetPageAsync(http, "/datasets");
            AssertBanner(datasets);
            Assert.Contains("cells", datasets);
            // Changes are refused with the reason, not offered and then failed.
            Assert.Contains("data-testid=\"read-only-notice\"", datasets);
            Assert.Contains("is not available here. The data folder's disk is full (", datasets);
            Assert.DoesNotContain("data-testid=\"import-panel\"", datasets);
            AssertBanner(await GetPageAsync(http, "/storage"));

            Assert.Contains("The data folder's disk is full (", portal.Log);
            Assert.Contains("the portal started read-only", portal.Log);
            Assert.DoesNotContain("   at ", portal.Log);
            Assert.DoesNotContain("Unhandled exception", portal.Log);
        }

        long freeBefore = volume.FreeBytes;
        var delete = await RunAsync(Settings, "storage", "--delete-dataset", "cells", "--json", "--data-dir", folder);
        Assert.True(delete.Code == 0, delete.Stderr);
        var result = JsonDocument.Parse(delete.Stdout).RootElement;
        Assert.Contains("dataset cells", result.GetProperty("deleted").GetProperty("removed").EnumerateArray().Select(e => e.GetString()));
        Assert.Empty(result.GetProperty("datasets").EnumerateArray());
        Assert.Empty(StoredFiles(folder));
        // The files are gone from the disk, and the reserve is back at its size once space allows.
        Assert.True(volume.FreeBytes > freeBefore + Megabyte, $"free {freeBefore} → {volume.FreeBytes}");
        Assert.Equal(4 * Megabyte, result.GetProperty("reserveBytes").GetInt64());
        Assert.Equal(4 * Megabyte, new FileInfo(Path.Combine(folder, DataFolderSpace.ReserveFileName)).Length);

        // Restarted with room: a portal that writes again, no banner.
        await using (var portal = await PortalProcess.StartOnAsync(folder, PortalSettings))
        {
            using var anonymous = portal.CreateAnonymousClient();
            Assert.DoesNotContain("disk-full-banner", await GetPageAsync(anonymous, "/account/signin"));
            Assert.True(DataFolderLock.IsHeld(folder));
        }
    }

    [Fact]
    public async Task A_write_at_start_that_fails_for_lack_of_space_starts_the_portal_read_only_instead_of_crashing()
    {
        await using var volume = await SmallVolume.MountAsync("24m");
        string folder = Path.Combine(volume.Path, "data");
        // A writing verb sets the folder up and makes the reserve (the folder's start-up checks do).
        var staging = await RunAsync(Settings, "storage", "--delete-staging", "--data-dir", folder);
        Assert.True(staging.Code == 0, staging.Stderr);
        Assert.Equal(4 * Megabyte, new FileInfo(Path.Combine(folder, DataFolderSpace.ReserveFileName)).Length);
        await PortalProcess.CreateTokenAsync(folder, PortalProcess.AdminUser, WbcPortal.Services.Accounts.PortalRole.Admin);
        SqliteConnection.ClearAllPools();
        volume.Fill();

        // The free-space check off: the start meets the full disk in its first write (the database's index) instead.
        await using var portal = await PortalProcess.StartOnAsync(folder, "--Storage:ReserveMegabytes", "4", "--Storage:MinFreeMegabytes", "0");
        using var anonymous = portal.CreateAnonymousClient();
        AssertBanner(await GetPageAsync(anonymous, "/account/signin"));
        Assert.Contains("(at start: the disk is full", portal.Log);
        Assert.DoesNotContain("   at ", portal.Log);
        Assert.False(DataFolderLock.IsHeld(folder)); // read-only: the delete verbs can run beside it
    }

    [Fact]
    public async Task Without_a_reserve_a_full_disk_ends_the_start_and_the_delete_verb_with_one_line()
    {
        await using var volume = await SmallVolume.MountAsync("24m");
        string folder = Path.Combine(volume.Path, "data");
        for (int i = 0; i < 10; i++) ImportFixtures.Write(source.Path, $"EOS/e_{i}.png", ImportFixtures.Png(900 + i, 96, 72));
        var noReserve = new Dictionary<string, string> { ["Storage__ReserveMegabytes"] = "0", ["Storage__MinFreeMegabytes"] = "4" };
        var import = await RunAsync(noReserve, "import", source.Path, "--name", "cells", "--data-dir", folder);
        Assert.True(import.Code == 0, import.Stderr);
        Assert.False(File.Exists(Path.Combine(folder, DataFolderSpace.ReserveFileName)));
        var stored = StoredFiles(folder);
        volume.Fill();

        var (code, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", folder, "--Storage:ReserveMegabytes", "0");
        Assert.Equal(5, code);
        string line = output.Trim();
        Assert.Single(line.Split('\n'));
        Assert.StartsWith("WbcPortal: The data folder's disk is full (", line);
        Assert.Contains("the portal cannot start, even read-only", line);

        var delete = await RunAsync(noReserve, "storage", "--delete-dataset", "cells", "--data-dir", folder);
        Assert.Equal(1, delete.Code);
        Assert.Single(delete.Stderr.Trim().Split('\n'));
        Assert.StartsWith("storage: the disk is full", delete.Stderr.Trim());
        Assert.Equal(stored, StoredFiles(folder)); // nothing lost
    }

    internal static void AssertBanner(string html)
    {
        Assert.Contains("data-testid=\"disk-full-banner\"", html);
        Assert.Contains("The data folder's disk is full (", html);
        Assert.Contains("MB free): the portal started read-only. Free space (for example <code>WbcPortal storage --delete-dataset NAME</code>) and restart.", html);
    }

    /// <summary>A page as the browser gets it, its text decoded (Blazor writes an apostrophe as &amp;#x27;).</summary>
    internal static async Task<string> GetPageAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync(Ct));
    }

    internal static string[] StoredFiles(string folder) =>
        new[] { "images", "thumbs" }.Select(d => Path.Combine(folder, d)).Where(Directory.Exists)
            .SelectMany(d => Directory.GetFiles(d, "*", SearchOption.AllDirectories)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The real executable, with settings from the environment (verbs read appsettings.json and the environment).</summary>
    internal static async Task<(int Code, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using Process process = PortalProcess.Start(args, environment);
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, await stdout, await stderr);
    }
}
