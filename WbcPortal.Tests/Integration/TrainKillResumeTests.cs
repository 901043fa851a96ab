using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WbcPortal.Cli;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>A training process killed mid-run (SIGKILL) and resumed at once finishes with every epoch exactly once.</summary>
// Trains in child processes on the two cores: alone, so its time limits hold on a loaded machine.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class TrainKillResumeTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-kill");
    private readonly TempDirectory source = new("wbc-kill-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    [Fact]
    public async Task A_killed_run_resumes_with_no_epoch_lost_or_repeated()
    {
        var ct = TestContext.Current.CancellationToken;
        var quiet = new StringWriter();
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], 30, seed: 11);
        Assert.Equal(0, await CliApp.RunAsync(["import", source.Path, "--name", "k", "--data-dir", data.Path], quiet, quiet));
        Assert.Equal(0, await CliApp.RunAsync(["split", "k", "--strategy", "random", "--ratios", "0.5,0.25,0.25", "--name", "k-split", "--data-dir", data.Path], quiet, quiet));
        var config = Path.Combine(source.Path, "c.json");
        await File.WriteAllTextAsync(config, """
            { "inputHeight": 96, "inputWidth": 128, "round1": { "epochs": 6, "learningRate": 0.003 },
              "round2": { "epochs": 2, "learningRate": 0.0001, "unfrozenStages": ["layer4"] }, "batchSize": 4, "seed": 9, "device": "cpu" }
            """, ct);

        // Train in a separate process and kill it hard once an epoch is recorded.
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { PortalProcess.PortalDll, "train", "--split", "k-split", "--config", config, "--name", "killed", "--data-dir", data.Path }) info.ArgumentList.Add(a);
        using (var process = Process.Start(info)!)
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (await EpochsAsync() < 1)
            {
                if (process.HasExited) Assert.Fail("the training process ended before it could be killed: " + await process.StandardError.ReadToEndAsync(ct));
                Assert.True(DateTime.UtcNow < deadline, "no epoch recorded within 120 s");
                await Task.Delay(100, ct);
            }
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(ct);
        }
        Assert.Equal("Running", await ScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'killed'"));

        // No waiting for a heartbeat to go stale: the run's lease names the killed process, so `resume` (the real
        // executable, as a user runs it) marks it Interrupted and takes it up at once.
        var (code, stdout, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(480), "resume", "killed", "--json", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        Assert.Contains("marked Interrupted", stderr);
        Assert.Equal("Succeeded", JsonDocument.Parse(stdout).RootElement.GetProperty("status").GetString());
        Assert.Null(await ScalarAsync<string?>("SELECT LeaseOwner FROM runs WHERE Name = 'killed'"));

        var epochs = new List<(long, long)>();
        await using (var connection = Open())
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT Round, Epoch FROM run_epochs e JOIN runs r ON r.Id = e.RunId WHERE r.Name = 'killed' ORDER BY Round, Epoch";
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) epochs.Add((reader.GetInt64(0), reader.GetInt64(1)));
        }
        Assert.Equal([(1L, 1L), (1L, 2L), (1L, 3L), (1L, 4L), (1L, 5L), (1L, 6L), (2L, 1L), (2L, 2L)], epochs);
    }

    private SqliteConnection Open()
    {
        var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        c.Open();
        return c;
    }

    private async Task<long> EpochsAsync() => await ScalarAsync<long>("SELECT COUNT(*) FROM run_epochs");

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var c = Open();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        var value = await command.ExecuteScalarAsync();
        if (value is null or DBNull) return default!;
        return (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}
