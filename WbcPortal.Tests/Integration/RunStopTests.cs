using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Stop reaches a run whichever process trains it: here a CLI <c>train</c> (which holds the data folder), stopped from
/// this test's process configured as a read-only portal is, the only kind of portal that can share the folder with it.
/// </summary>
// Trains in child processes on the two cores: alone, so its time limits hold on a loaded machine.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class RunStopTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-stop");
    private readonly TempDirectory source = new("wbc-stop-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    [Fact]
    public async Task A_run_training_in_another_process_stops_when_asked_and_ends_cancelled()
    {
        var ct = TestContext.Current.CancellationToken;
        await RunDeviceTests.PrepareSplitAsync(data.Path, source.Path, "stop-split", perClass: 12);
        var config = Path.Combine(source.Path, "long.json");
        await File.WriteAllTextAsync(config, """
            { "inputHeight": 48, "inputWidth": 64, "round1": { "epochs": 1, "learningRate": 0.003 },
              "round2": { "epochs": 50, "learningRate": 0.0001, "unfrozenStages": ["layer4"] }, "batchSize": 4, "device": "cpu" }
            """, ct);

        using var train = PortalProcess.Start(["train", "--split", "stop-split", "--config", config, "--name", "long", "--data-dir", data.Path]);
        var stderr = train.StandardError.ReadToEndAsync(ct);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(240);
            while (await ScalarAsync("SELECT COUNT(*) FROM run_epochs WHERE Round = 2") < 1)
            {
                if (train.HasExited) Assert.Fail("train ended before it could be stopped: " + await stderr);
                Assert.True(DateTime.UtcNow < deadline, "no round-2 epoch within 240 s");
                await Task.Delay(100, ct);
            }

            await using (var services = new ServiceCollection().AddPortalCoreForTests(data.Path, new Dictionary<string, string?> { ["Storage:ReadOnly"] = "true" }).BuildServiceProvider())
            {
                var runs = services.GetRequiredService<TrainingRunService>();
                int id = await runs.ResolveAsync("long", ct);
                Assert.Equal(RunStatus.Running, await services.GetRequiredService<RunStore>().RequestStopAsync(id, ct));
            }
            var asked = DateTime.UtcNow;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            await train.WaitForExitAsync(timeout.Token);
            TestContext.Current.TestOutputHelper?.WriteLine($"stopped {(DateTime.UtcNow - asked).TotalSeconds:0.0} s after the request");
        }
        finally
        {
            if (!train.HasExited) train.Kill(entireProcessTree: true);
        }
        Assert.Equal(130, train.ExitCode);
        Assert.Contains("cancelled", await stderr);
        await using var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        await c.OpenAsync(ct);
        await using var command = c.CreateCommand();
        command.CommandText = "SELECT Status FROM runs WHERE Name = 'long'";
        Assert.Equal("Cancelled", (string?)await command.ExecuteScalarAsync(ct));
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM run_epochs WHERE Round = 2") < 50);
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        await c.OpenAsync();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
