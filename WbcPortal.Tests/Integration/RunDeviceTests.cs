using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Cli;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Training;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>A run asking for a device this machine lacks is refused with its reason, or fails with it: never left waiting.</summary>
// Trains in child processes on the two cores: alone, so its time limits hold on a loaded machine.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class RunDeviceTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-device");
    private readonly TempDirectory source = new("wbc-device-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    /// <summary>A dataset and a split in a fresh data folder (through the verbs, in this process: no portal holds the folder).</summary>
    internal static async Task PrepareSplitAsync(string dataDirectory, string sourceDirectory, string split, int perClass = 8)
    {
        var quiet = new StringWriter();
        ImportFixtures.ClassFolders(sourceDirectory, ["EOS", "NEU"], perClass, seed: 5);
        Assert.Equal(0, await CliApp.RunAsync(["import", sourceDirectory, "--name", split + "-cells", "--data-dir", dataDirectory], quiet, quiet));
        Assert.Equal(0, await CliApp.RunAsync(["split", split + "-cells", "--strategy", "random", "--ratios", "0.5,0.25,0.25", "--name", split, "--data-dir", dataDirectory], quiet, quiet));
    }

    /// <summary>
    /// A run queued (as an older portal, or another machine with a GPU, would have queued it) with device cuda; it is
    /// written straight into the database, since <see cref="TrainingRunService.CreateAsync"/> refuses it here.
    /// </summary>
    internal static async Task<int> QueueCudaRunAsync(string dataDirectory, string split, string name)
    {
        await using var services = new ServiceCollection().AddPortalCoreForTests(dataDirectory).BuildServiceProvider();
        var runs = services.GetRequiredService<TrainingRunService>();
        var config = new TrainingConfig
        {
            InputHeight = 48,
            InputWidth = 64,
            Round1 = new RoundConfig { Epochs = 1, LearningRate = 3e-3 },
            Round2 = new RoundConfig { Epochs = 0 },
            BatchSize = 8,
            Device = "cpu",
        };
        var run = await runs.CreateAsync(split, config, name);
        await using var db = await services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync();
        string cuda = (config with { Device = "cuda" }).ToJson();
        await db.Runs.Where(r => r.Id == run.Id).ExecuteUpdateAsync(s => s.SetProperty(r => r.ConfigJson, cuda));
        return run.Id;
    }

    internal static void SkipWhereCudaWorks()
    {
        if (new TorchRuntime(new ComputeOptions()).CudaAvailable) Assert.Skip("This machine has a GPU TorchSharp can use: cuda is available here.");
    }

    [Fact]
    public async Task Cuda_on_this_cpu_machine_is_refused_by_train_and_fails_a_queued_run_at_claim_with_the_reason()
    {
        SkipWhereCudaWorks();
        var ct = TestContext.Current.CancellationToken;
        await PrepareSplitAsync(data.Path, source.Path, "dev-split");
        var config = Path.Combine(source.Path, "cuda.json");
        await File.WriteAllTextAsync(config, """
            { "inputHeight": 48, "inputWidth": 64, "round1": { "epochs": 1, "learningRate": 0.003 },
              "round2": { "epochs": 0 }, "batchSize": 8, "device": "cuda" }
            """, ct);

        // `train` refuses it before anything is queued: one line naming the device and what to choose instead.
        var (code, stdout, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(90), "train", "--split", "dev-split", "--config", config, "--data-dir", data.Path);
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("train: ", line);
        Assert.Contains("'cuda' is not available here", line);
        Assert.Contains("'cpu'", line);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT COUNT(*) FROM runs"));

        // A run already queued with cuda fails at its claim with the same reason, instead of staying Queued.
        await QueueCudaRunAsync(data.Path, "dev-split", "queued-cuda");
        (code, _, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(90), "resume", "queued-cuda", "--data-dir", data.Path);
        Assert.NotEqual(0, code);
        Assert.Contains("'cuda' is not available here", stderr);
        Assert.Equal("Failed", await ScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'queued-cuda'"));
        Assert.Contains("'cuda' is not available here", await ScalarAsync<string>("SELECT Error FROM runs WHERE Name = 'queued-cuda'"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT COUNT(*) FROM runs WHERE Status IN ('Queued', 'Running')"));
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        await c.OpenAsync();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}
