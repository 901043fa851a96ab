using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Cli;
using WbcPortal.Extensions;
using WbcPortal.Services.Jobs;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// One job system that scales out, tested as it will fail (issue 27): on PostgreSQL, a web node and two <c>worker</c> processes
/// share the queue and the data folder; every job runs exactly once, and a worker killed with SIGKILL in the middle of a job or
/// a training run has its work taken over and finished by the other (the run from its checkpoint, every epoch exactly once);
/// the database passes an integrity check. The same kill on SQLite with one process and a restart.
/// </summary>
// Trains in child processes on the two cores: alone, as the other training tests.
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class ScaleOutTests : IDisposable
{
    private const string TinyRun = """
        { "inputHeight": 96, "inputWidth": 128, "round1": { "epochs": 6, "learningRate": 0.003 },
          "round2": { "epochs": 2, "learningRate": 0.0001, "unfrozenStages": ["layer4"] }, "batchSize": 4, "seed": 9, "device": "cpu" }
        """;

    private static readonly (long, long)[] EveryEpochOnce = [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 1), (2, 2)];

    private readonly TempDirectory data = new("wbc-scale");
    private readonly TempDirectory source = new("wbc-scale-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    [Fact]
    public async Task Web_node_and_two_workers_on_postgres_run_each_job_once_and_take_over_from_a_killed_worker()
    {
        if (PostgresDatabase.Unavailable() is { } why) Assert.Skip(why);
        var ct = TestContext.Current.CancellationToken;
        await using var pg = await PostgresDatabase.CreateAsync();
        var settings = pg.Settings(("Jobs__TakeOver", "true"), ("Jobs__TakeOverCheckMilliseconds", "500"),
            ("Jobs__QueuePollMilliseconds", "200"), ("Jobs__PollMilliseconds", "200"), ("Jobs__HeartbeatMilliseconds", "200"));

        // The data a run needs, made by the verbs on PostgreSQL.
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], 30, seed: 11);
        await VerbAsync(settings, "import", source.Path, "--name", "s");
        await VerbAsync(settings, "split", "s", "--strategy", "random", "--ratios", "0.5,0.25,0.25", "--name", "s-split");

        // A web node that runs no job (Jobs:Queues none) and two workers on both queues.
        await using var web = await PortalProcess.StartOnAsync(data.Path, settings.With(("Jobs__Queues", "none")));
        var workers = new List<Process> { StartWorker(settings), StartWorker(settings) };
        try
        {
            await WaitAsync(async () => await pg.ScalarAsync<long>("SELECT count(*) FROM hangfire.server") >= 4, 60, "both workers announced");

            // 1. Thirty jobs queued by a client node: each claimed once (one start), by a worker, never by the web node.
            await using var client = ClientNode(pg);
            var jobs = client.GetRequiredService<PortalJobs>();
            var ids = new List<Guid>();
            for (int i = 0; i < 30; i++) ids.Add((await jobs.EnqueueAsync(new ProbeJob($"p{i}"), cancellationToken: ct)).Id);
            await WaitAsync(async () => await pg.ScalarAsync<long>("SELECT count(*) FROM jobs WHERE \"State\" = 'Succeeded'") == 30, 90, "thirty probes done");
            var rows = await pg.RowsAsync("SELECT \"Attempts\", \"Node\", \"ResultJson\" FROM jobs");
            Assert.Equal(30, rows.Count);
            Assert.All(rows, r => Assert.Equal(1, (int)r[0]));
            var workerPids = workers.Select(w => w.Id).ToHashSet();
            var ranOn = rows.Select(r => WbcPortal.Storage.ProcessIdentity.Parse((string)r[1])!.ProcessId).ToList();
            Assert.All(ranOn, pid => Assert.Contains(pid, workerPids));
            Assert.All(rows, r => Assert.Contains(((string)r[1]), (string)r[2])); // the handler itself ran where the claim says

            // 1b. An upload staged on this node and imported by a worker: the worker reads it from the shared folder and gives the
            // folder back; this node releases its reserved staging space once it sees the job end.
            var staging = client.GetRequiredService<WbcPortal.Services.Datasets.UploadStaging>();
            var board = client.GetRequiredService<PortalJobs>();
            await board.StartAsync(ct);
            var lease = staging.Reserve(64 * 1024, "upload of cells.zip");
            var zip = Path.Combine(lease.Folder, "upload.zip");
            ImportFixtures.Zip(zip, [("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(1)), ("NEUTROPHIL/b.jpg", ImportFixtures.Jpeg(2)), ("NEUTROPHIL/c.jpg", ImportFixtures.Jpeg(3))]);
            var import = await jobs.EnqueueAsync(new ImportJob("remote", lease.Folder, "zip cells.zip", zip, "cells.zip"), lease, ct);
            await WaitAsync(async () => await pg.ScalarAsync<string>($"SELECT \"State\" FROM jobs WHERE \"Id\" = '{import.Id}'") is "Succeeded" or "Failed", 90, "the import done");
            Assert.Equal("Succeeded", await pg.ScalarAsync<string>($"SELECT \"State\" FROM jobs WHERE \"Id\" = '{import.Id}'"));
            Assert.Equal(3L, await pg.ScalarAsync<long>("SELECT count(*) FROM dataset_images i JOIN datasets d ON d.\"Id\" = i.\"DatasetId\" WHERE d.\"Name\" = 'remote'"));
            await WaitAsync(() => Task.FromResult(staging.UsedBytes() == 0), 30, "this node's staging space released");
            Assert.False(Directory.Exists(lease.Folder), "the worker gave the staged upload back");
            await board.StopAsync(ct);

            // 2. A held job: its worker is killed with SIGKILL while it runs; the other worker takes it over and finishes it.
            var held = await jobs.EnqueueAsync(new ProbeJob("held", HoldSeconds: 6), cancellationToken: ct);
            await WaitAsync(async () => await pg.ScalarAsync<string>($"SELECT \"State\" FROM jobs WHERE \"Id\" = '{held.Id}'") == "Running"
                && await pg.ScalarAsync<string>($"SELECT \"ProgressText\" FROM jobs WHERE \"Id\" = '{held.Id}'") is { } text && text.StartsWith("held 2", StringComparison.Ordinal), 60, "the held job under way");
            int heldBy = WbcPortal.Storage.ProcessIdentity.Parse(await pg.ScalarAsync<string>($"SELECT \"Node\" FROM jobs WHERE \"Id\" = '{held.Id}'"))!.ProcessId;
            var first = workers.Single(w => w.Id == heldBy);
            first.Kill();
            await first.WaitForExitAsync(ct);
            await WaitAsync(async () => await pg.ScalarAsync<string>($"SELECT \"State\" FROM jobs WHERE \"Id\" = '{held.Id}'") == "Succeeded", 90, "the held job taken over");
            var after = (await pg.RowsAsync($"SELECT \"Attempts\", \"Node\" FROM jobs WHERE \"Id\" = '{held.Id}'")).Single();
            Assert.Equal(2, (int)after[0]);
            var second = workers.Single(w => w != first);
            Assert.Equal(second.Id, WbcPortal.Storage.ProcessIdentity.Parse((string)after[1])!.ProcessId);

            // 3. A training run queued from the CLI: a new worker joins; the worker training it is killed after an epoch; the
            // other takes the run over from its checkpoint: every epoch exactly once, taken over once.
            workers.Add(StartWorker(settings));
            var config = Path.Combine(source.Path, "tiny.json");
            await File.WriteAllTextAsync(config, TinyRun, ct);
            var queued = JsonDocument.Parse(await VerbAsync(settings, "train", "--split", "s-split", "--config", config, "--name", "scaled", "--queue", "--json")).RootElement;
            Assert.Equal("Queued", queued.GetProperty("status").GetString());
            await WaitAsync(async () => await pg.ScalarAsync<long>("SELECT count(*) FROM run_epochs") >= 1, 180, "a first epoch recorded");
            int trainer = WbcPortal.Storage.ProcessIdentity.Parse(await pg.ScalarAsync<string>("SELECT \"LeaseOwner\" FROM runs WHERE \"Name\" = 'scaled'"))!.ProcessId;
            var killed = workers.Single(w => w.Id == trainer);
            killed.Kill();
            await killed.WaitForExitAsync(ct);
            await WaitAsync(async () => await pg.ScalarAsync<string>("SELECT \"Status\" FROM runs WHERE \"Name\" = 'scaled'") is "Succeeded" or "Failed" or "Interrupted", 480, "the run finished");
            Assert.Equal("Succeeded", await pg.ScalarAsync<string>("SELECT \"Status\" FROM runs WHERE \"Name\" = 'scaled'"));
            Assert.Equal(1, await pg.ScalarAsync<int>("SELECT \"TakeOvers\" FROM runs WHERE \"Name\" = 'scaled'"));
            var epochs = (await pg.RowsAsync("SELECT e.\"Round\", e.\"Epoch\" FROM run_epochs e JOIN runs r ON r.\"Id\" = e.\"RunId\" WHERE r.\"Name\" = 'scaled' ORDER BY 1, 2"))
                .Select(r => (Convert.ToInt64(r[0]), Convert.ToInt64(r[1]))).ToArray();
            Assert.Equal(EveryEpochOnce, epochs);
            Assert.True(File.Exists(Path.Combine(data.Path, "runs", queued.GetProperty("runId").GetInt32().ToString(), "model.onnx")), "the taken-over run exported its model to the shared folder");

            // 4. The database after the kills: PostgreSQL's own check of every table and index (amcheck), and no job or run left behind.
            await AssertIntegrityAsync(pg);
            Assert.Equal(0L, await pg.ScalarAsync<long>("SELECT count(*) FROM jobs WHERE \"State\" IN ('Queued', 'Running')"));
            Assert.Equal(0L, await pg.ScalarAsync<long>("SELECT count(*) FROM runs WHERE \"Status\" IN ('Queued', 'Running')"));
        }
        finally
        {
            foreach (var w in workers.Where(w => !w.HasExited))
            {
                w.Kill();
                await w.WaitForExitAsync(CancellationToken.None);
            }
            foreach (var w in workers) w.Dispose();
        }
    }

    [Fact]
    public async Task A_portal_killed_mid_run_on_sqlite_takes_its_run_over_when_it_starts_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var quiet = new StringWriter();
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], 30, seed: 11);
        Assert.True(0 == await CliApp.RunAsync(["import", source.Path, "--name", "s", "--data-dir", data.Path], quiet, quiet), quiet.ToString());
        Assert.True(0 == await CliApp.RunAsync(["split", "s", "--strategy", "random", "--ratios", "0.5,0.25,0.25", "--name", "s-split", "--data-dir", data.Path], quiet, quiet), quiet.ToString());
        var config = Path.Combine(source.Path, "tiny.json");
        await File.WriteAllTextAsync(config, TinyRun, ct);
        // Queued while no portal runs (the verb holds the folder a moment), then trained by the portal.
        // (The executable, as a user runs it: Hangfire's client logs through a process-wide provider other tests' hosts dispose.)
        var (code, _, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(120), "train", "--split", "s-split", "--config", config, "--name", "solo", "--queue", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        string[] takeOver = ["--Jobs:TakeOver", "true", "--Jobs:QueuePollMilliseconds", "200"];
        var portal = await PortalProcess.StartOnAsync(data.Path, takeOver);
        try
        {
            await WaitAsync(async () => await SqliteScalarAsync<long>("SELECT count(*) FROM run_epochs") >= 1, 180, "a first epoch recorded");
            await portal.KillAsync();
        }
        finally
        {
            await portal.DisposeAsync();
        }
        Assert.Equal("Running", await SqliteScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'solo'"));

        // Started again: the run its killed process left is queued again at start and resumes from its checkpoint ...
        await using (var again = await PortalProcess.StartOnAsync(data.Path, takeOver))
        {
            await WaitAsync(async () => await SqliteScalarAsync<long>("SELECT count(*) FROM run_epochs") >= 4, 240, "more epochs after the take-over");
            Assert.Contains("queued again", again.Log);
            // ... and a graceful stop (SIGTERM, a restart for an update) hands it back to the queue, not Interrupted.
            await again.StopGracefullyAsync(TimeSpan.FromSeconds(60));
        }
        Assert.Equal("Queued", await SqliteScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'solo'"));
        await using (var third = await PortalProcess.StartOnAsync(data.Path, takeOver))
        {
            await WaitAsync(async () => await SqliteScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'solo'") is "Succeeded" or "Failed" or "Interrupted", 480, "the run finished");
        }
        Assert.Equal("Succeeded", await SqliteScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'solo'"));
        Assert.Equal(1L, await SqliteScalarAsync<long>("SELECT TakeOvers FROM runs WHERE Name = 'solo'"));
        var epochs = new List<(long, long)>();
        await using (var connection = OpenSqlite())
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT Round, Epoch FROM run_epochs e JOIN runs r ON r.Id = e.RunId WHERE r.Name = 'solo' ORDER BY Round, Epoch";
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) epochs.Add((reader.GetInt64(0), reader.GetInt64(1)));
        }
        Assert.Equal(EveryEpochOnce, epochs);
        Assert.Equal("ok", await SqliteScalarAsync<string>("PRAGMA integrity_check"));
        Assert.Equal(0L, await SqliteScalarAsync<long>("SELECT count(*) FROM pragma_foreign_key_check"));
    }

    private async Task<string> VerbAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using var process = PortalProcess.Start([.. args, "--data-dir", data.Path], environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', args)}: {await stderr}");
        return await stdout;
    }

    private Process StartWorker(IReadOnlyDictionary<string, string> environment)
    {
        var process = PortalProcess.Start(["worker", "--queues", "gpu,cpu", "--data-dir", data.Path], environment);
        // Read its output so a full pipe never stalls it.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>A node that only queues (no server): the test's hand on the shared queue, as a web page's would be.</summary>
    private ServiceProvider ClientNode(PostgresDatabase pg)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Provider"] = "PostgreSql",
            ["Storage:ConnectionString"] = pg.ConnectionString,
            ["Storage:DataDirectory"] = data.Path,
            ["Jobs:Queues"] = "none",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddWbcCore();
        services.AddJobWork();
        services.AddJobStorageAndServers(configuration);
        return services.BuildServiceProvider();
    }

    private static async Task AssertIntegrityAsync(PostgresDatabase pg)
    {
        string? bin = Environment.GetEnvironmentVariable("WBC_TEST_POSTGRES_BIN");
        var amcheck = bin is null ? null : Path.Combine(bin, "pg_amcheck");
        Assert.True(amcheck is not null && File.Exists(amcheck), "pg_amcheck not found (WBC_TEST_POSTGRES_BIN, set by .build/postgres.sh)");
        var server = new Npgsql.NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable("WBC_TEST_POSTGRES"));
        var info = new ProcessStartInfo(amcheck!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-h", server.Host!, "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", server.Username!,
                     "--install-missing", "--heapallindexed", "--parent-check", "-d", pg.Name }) info.ArgumentList.Add(a);
        using var check = Process.Start(info)!;
        string output = await check.StandardOutput.ReadToEndAsync() + await check.StandardError.ReadToEndAsync();
        await check.WaitForExitAsync();
        Assert.True(check.ExitCode == 0, $"pg_amcheck found a problem: {output}");
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, int seconds, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within {seconds} s: {what}");
            await Task.Delay(200);
        }
    }

    private SqliteConnection OpenSqlite()
    {
        var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")};Pooling=false");
        c.Open();
        return c;
    }

    private async Task<T> SqliteScalarAsync<T>(string sql)
    {
        await using var c = OpenSqlite();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        var value = await command.ExecuteScalarAsync();
        if (value is null or DBNull) return default!;
        return (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}

internal static class EnvironmentExtensions
{
    public static Dictionary<string, string> With(this IReadOnlyDictionary<string, string> env, params (string Key, string Value)[] more)
    {
        var copy = env.ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (k, v) in more) copy[k] = v;
        return copy;
    }
}
