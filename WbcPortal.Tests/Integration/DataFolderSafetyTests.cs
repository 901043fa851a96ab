using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 10's data-loss cases, each run through the real executable as a user would meet it: a portal started while a
/// CLI import runs, two portals on one folder, a truncated and an emptied database, an import killed mid-way, a full
/// disk. Nothing a user stored may be lost, and every refusal is one readable line.
/// </summary>
public sealed class DataFolderSafetyTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-safety");
    private readonly TempDirectory source = new("wbc-safety-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Dictionary<string, string> SmallBatches = new() { ["Import__CommitBatchSize"] = "25" };

    [Fact]
    public async Task A_portal_started_while_a_cli_import_runs_is_refused_and_the_import_loses_nothing()
    {
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], 150, seed: 3);
        using var import = PortalProcess.Start(["import", source.Path, "--name", "cells", "--json", "--data-dir", data.Path], SmallBatches);
        var importOutput = import.StandardOutput.ReadToEndAsync(Ct);
        var importErrors = import.StandardError.ReadToEndAsync(Ct);
        await WaitForHolderAsync("WbcPortal import", import);
        // Freeze the import while it holds the folder, so the portal meets it mid-way whatever the machine's speed.
        Signal(import.Id, "STOP");
        try
        {
            var (code, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path);
            Assert.Equal(3, code);
            Assert.Contains($"is in use by WbcPortal import (process {import.Id} on {Environment.MachineName}", output);
            Assert.DoesNotContain("   at ", output);
        }
        finally
        {
            Signal(import.Id, "CONT");
        }
        await import.WaitForExitAsync(Ct);
        Assert.True(import.ExitCode == 0, await importErrors);
        Assert.Equal(300, JsonDocument.Parse(await importOutput).RootElement.GetProperty("images").GetInt32());
        await AssertEveryRowHasItsFilesAsync(expectedImages: 300);
    }

    [Fact]
    public async Task A_second_portal_on_the_same_folder_is_refused_naming_the_first()
    {
        await using var first = await PortalProcess.StartOnAsync(data.Path);
        var (code, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path);
        Assert.Equal(3, code);
        Assert.Contains($"is in use by WbcPortal portal (process {first.ProcessId} on {Environment.MachineName}", output);
        Assert.Single(output.Trim().Split('\n'));
        using var http = first.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_read_only_portal_runs_beside_the_holder_to_browse_and_changes_nothing()
    {
        await ImportAsync(12);
        // The lab's users exist before (a read-only portal makes none): a token to browse with.
        string token = await PortalProcess.CreateTokenAsync(data.Path, PortalProcess.AdminUser, WbcPortal.Services.Accounts.PortalRole.Viewer);
        // SQLite's own -wal/-shm coordination files come and go with any reader (the database is in WAL mode): not data.
        List<string> DataFiles() => Directory.GetFiles(data.Path, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("-wal", StringComparison.Ordinal) && !f.EndsWith("-shm", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        var files = DataFiles();
        var dbBytes = await File.ReadAllBytesAsync(Path.Combine(data.Path, "wbcportal.db"), Ct);
        using (DataFolderLock.Acquire(data.Path, "WbcPortal train", "train --split x"))
        {
            await using var portal = await PortalProcess.StartOnAsync(data.Path, "--read-only");
            using var http = portal.CreateClientWithToken(token);
            string home = await http.GetStringAsync("/", Ct);
            Assert.Contains("data-testid=\"read-only\"", home);
            string datasets = await http.GetStringAsync("/datasets", Ct);
            Assert.Contains("cells", datasets);
            // Write controls are replaced by the reason, not offered and then failed.
            Assert.Contains("data-testid=\"read-only-notice\"", datasets);
            Assert.DoesNotContain("data-testid=\"import-panel\"", datasets);
            Assert.DoesNotContain("data-testid=\"delete-dataset\"", datasets);
            Assert.Contains("data-testid=\"read-only-notice\"", await http.GetStringAsync("/training", Ct));
            string sha = Path.GetFileNameWithoutExtension(StoredFiles()[0]);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/images/{sha}", Ct)).StatusCode);
        }
        Assert.Equal(files, DataFiles());
        Assert.Equal(dbBytes, await File.ReadAllBytesAsync(Path.Combine(data.Path, "wbcportal.db"), Ct));
    }

    [Fact]
    public async Task A_truncated_database_stops_the_start_with_nothing_deleted_and_a_backup_restores_it()
    {
        await ImportAsync(40);
        string backup = Path.Combine(source.Path, "backup");
        var (backupCode, backupOutput) = await PortalProcess.RunToExitAsync("backup", backup, "--data-dir", data.Path);
        Assert.True(backupCode == 0, backupOutput);
        var before = StoredFiles();

        await File.WriteAllBytesAsync(Path.Combine(data.Path, "wbcportal.db"), [], Ct); // truncated to 0 bytes
        var (code, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path);
        Assert.Equal(4, code);
        Assert.Contains("is empty (0 bytes), but the data folder holds 40 stored images. Nothing was changed.", output);
        Assert.Contains("WbcPortal restore", output);
        Assert.Equal(before, StoredFiles());
        // A writing verb meets the same guard (nothing is swept or migrated over it).
        var (importCode, importOutput) = await PortalProcess.RunToExitAsync("import", source.Path, "--name", "again", "--data-dir", data.Path);
        Assert.Equal(1, importCode);
        Assert.Contains("is empty (0 bytes)", importOutput);
        Assert.Equal(before, StoredFiles());

        var (restoreCode, restoreOutput) = await PortalProcess.RunToExitAsync("restore", backup, "--data-dir", data.Path);
        Assert.True(restoreCode == 0, restoreOutput);
        Assert.Contains("Restored 40 stored images", restoreOutput);
        await using var portal = await PortalProcess.StartOnAsync(data.Path);
        using var http = portal.CreateClient();
        string sha = Path.GetFileNameWithoutExtension(before[0]);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/images/{sha}", Ct)).StatusCode);
        Assert.Equal(before, StoredFiles());
    }

    [Fact]
    public async Task An_emptied_database_stops_the_start_and_a_restore_refuses_to_overwrite_a_live_one()
    {
        await ImportAsync(20);
        string backup = Path.Combine(source.Path, "backup");
        Assert.Equal(0, (await PortalProcess.RunToExitAsync("backup", backup, "--data-dir", data.Path)).ExitCode);
        var restoreOverLive = await PortalProcess.RunToExitAsync("restore", backup, "--data-dir", data.Path);
        Assert.Equal(1, restoreOverLive.ExitCode);
        Assert.Contains("holds 1 dataset(s) and 0 run(s)", restoreOverLive.Output);

        var before = StoredFiles();
        await ExecAsync("DELETE FROM dataset_images; DELETE FROM imports; DELETE FROM datasets; DELETE FROM stored_images;");
        var (code, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path);
        Assert.Equal(4, code);
        Assert.Contains("records no stored image (it was emptied or replaced), but the data folder holds 20 stored images", output);
        Assert.Equal(before, StoredFiles());
    }

    [Fact]
    public async Task An_import_killed_mid_way_keeps_its_committed_batches_and_the_rerun_completes_it()
    {
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], 500, seed: 5);
        using (var import = PortalProcess.Start(["import", source.Path, "--name", "cells", "--data-dir", data.Path], SmallBatches))
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (await CountAsync("SELECT count(*) FROM dataset_images") < 25)
            {
                if (import.HasExited) Assert.Fail("the import ended before it could be killed: " + await import.StandardError.ReadToEndAsync(Ct));
                Assert.True(DateTime.UtcNow < deadline, "no batch committed within 90 s");
                await Task.Delay(5, Ct);
            }
            Signal(import.Id, "KILL");
            await import.WaitForExitAsync(Ct);
        }
        long kept = await CountAsync("SELECT count(*) FROM dataset_images");
        Assert.True(kept is >= 25 and < 1000, $"kept {kept}");
        Assert.Equal(0, kept % 25); // whole batches only

        using var rerun = PortalProcess.Start(["import", source.Path, "--name", "cells", "--json", "--data-dir", data.Path]);
        var stdout = rerun.StandardOutput.ReadToEndAsync(Ct);
        var stderr = rerun.StandardError.ReadToEndAsync(Ct);
        await rerun.WaitForExitAsync(Ct);
        Assert.True(rerun.ExitCode == 0, await stderr);
        var summary = JsonDocument.Parse(await stdout).RootElement;
        Assert.Equal(1000 - kept, summary.GetProperty("images").GetInt32());
        Assert.Equal(kept, summary.GetProperty("duplicates").GetInt32());
        await AssertEveryRowHasItsFilesAsync(expectedImages: 1000);
    }

    [Fact]
    public async Task A_full_disk_ends_the_import_with_one_line_and_keeps_what_was_committed()
    {
        using var small = new TempDirectory("wbc-tmpfs");
        var mount = await RunAsync("mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", small.Path);
        if (mount.Code != 0) Assert.Skip($"this test needs to mount a small tmpfs (root with CAP_SYS_ADMIN): {mount.Output.Trim()}");
        try
        {
            string folder = Path.Combine(small.Path, "data");
            for (int i = 0; i < 400; i++) ImportFixtures.Write(source.Path, $"EOS/e_{i}.png", ImportFixtures.Png(7000 + i, 96, 72));
            var (code, output) = await PortalProcess.RunToExitAsync("import", source.Path, "--name", "cells", "--data-dir", folder);
            Assert.Equal(1, code);
            string line = output.Trim();
            Assert.Single(line.Split('\n'));
            Assert.StartsWith("import: the disk is full", line);

            await AssertEveryRowHasItsFilesAsync(folder, expectedImages: null);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            await RunAsync("umount", small.Path);
        }
    }

    private async Task ImportAsync(int images)
    {
        ImportFixtures.ClassFolders(source.Path, ["EOS"], images, seed: 9);
        var (code, output) = await PortalProcess.RunToExitAsync("import", source.Path, "--name", "cells", "--data-dir", data.Path);
        Assert.True(code == 0, output);
    }

    private List<string> StoredFiles() =>
        Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories).Concat(Directory.GetFiles(Path.Combine(data.Path, "thumbs"), "*", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(data.Path, f)).Order(StringComparer.Ordinal).ToList();

    private Task AssertEveryRowHasItsFilesAsync(int expectedImages) => AssertEveryRowHasItsFilesAsync(data.Path, expectedImages);

    /// <summary>Every stored-image row has its image and thumbnail, no image file is without a row, and staging is empty.</summary>
    private static async Task AssertEveryRowHasItsFilesAsync(string folder, int? expectedImages)
    {
        var store = new WbcPortal.Engine.Datasets.Storage.ImageStore(folder);
        using var connection = new SqliteConnection($"Data Source={Path.Combine(folder, "wbcportal.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT Sha256, Format FROM stored_images";
        await using var reader = await command.ExecuteReaderAsync(Ct);
        int rows = 0;
        while (await reader.ReadAsync(Ct))
        {
            rows++;
            string sha = reader.GetString(0);
            Assert.True(File.Exists(store.ImagePath(sha, reader.GetString(1))) && File.Exists(store.ThumbnailPath(sha)), $"{sha}: row without its file");
        }
        if (expectedImages is { } expected) Assert.Equal(expected, rows);
        string images = Path.Combine(folder, "images");
        Assert.Equal(rows, Directory.Exists(images) ? Directory.GetFiles(images, "*", SearchOption.AllDirectories).Length : 0);
        Assert.Empty(Directory.Exists(store.StagingRoot) ? Directory.GetFiles(store.StagingRoot, "*", SearchOption.AllDirectories) : []);
    }

    private async Task WaitForHolderAsync(string purpose, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DataFolderLock.ReadHolder(data.Path)?.Purpose != purpose)
        {
            Assert.False(process.HasExited, $"{purpose} ended before it held the folder");
            Assert.True(DateTime.UtcNow < deadline, $"{purpose} did not take the folder's lock within 60 s");
            await Task.Delay(10, Ct);
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    private async Task<long> CountAsync(string sql)
    {
        string db = Path.Combine(data.Path, "wbcportal.db");
        if (!File.Exists(db)) return 0;
        try
        {
            // A short busy timeout: the import commits often, and a poll that waits out its locks would see only the end.
            using var connection = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False;Default Timeout=1");
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (SqliteException)
        {
            return 0; // not migrated yet, or busy for a moment
        }
    }

    private async Task ExecAsync(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
    }
}
