using System.Text.Json;
using WbcPortal.Cli;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>The headless verbs, run in-process through the same entry point as the executable.</summary>
[Trait("Category", "Torch")]
public class CliTests
{
    private static async Task<(int Code, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Info_json_prints_the_contract_keys()
    {
        using var data = new TempDirectory();
        var (code, stdout, stderr) = await Run("info", "--json", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        foreach (var key in new[] { "version", "device", "torchThreads", "onnxProviders", "dataDir", "database" })
        {
            Assert.True(root.TryGetProperty(key, out _), $"missing key {key} in {stdout}");
        }
        Assert.Contains(root.GetProperty("device").GetString(), new[] { "cpu", "cuda" });
        Assert.Contains("CPUExecutionProvider", root.GetProperty("onnxProviders").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(data.Path, root.GetProperty("dataDir").GetString());
        Assert.True(root.GetProperty("torchThreads").GetInt32() >= 1);
        // The provider classification is served on is named (the first usable one), with its threads and batching.
        var serving = root.GetProperty("serving");
        Assert.Equal(root.GetProperty("onnxProviders")[0].GetString(), serving.GetProperty("provider").GetString());
        Assert.True(serving.GetProperty("onnxThreads").GetInt32() >= 1);
        Assert.True(serving.GetProperty("maxBatch").GetInt32() >= 1);
        // info only reads: it takes no lock and creates no database in a folder that has none.
        Assert.False(File.Exists(Path.Combine(data.Path, "wbcportal.db")));
    }

    [Fact]
    public async Task Global_options_work_before_the_verb_too()
    {
        using var data = new TempDirectory();
        var (code, stdout, _) = await Run("--json", "--data-dir", data.Path, "info");
        Assert.Equal(0, code);
        Assert.Equal(data.Path, JsonDocument.Parse(stdout).RootElement.GetProperty("dataDir").GetString());
    }

    [Fact]
    public async Task An_unknown_benchmark_fails_with_a_one_line_reason()
    {
        using var data = new TempDirectory();
        var (code, stdout, stderr) = await Run("bench", "--only", "nope", "--data-dir", data.Path, "--json");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal("bench: no benchmark named 'nope'; available: backbone, import, training, flops, grouping, review, inference, smear-detect, smear, decode-memory, jobs, idle-memory, circuits", stderr.Trim().Split('\n').Last().Trim());
    }

    [Fact]
    public async Task A_reading_verb_refuses_a_database_of_an_older_version_in_one_line_and_changes_nothing()
    {
        using var data = new TempDirectory();
        using var images = new TempDirectory();
        using (var image = TestImages.Field(640, 480, 2, [(300, 200, 40)])) await SixLabors.ImageSharp.ImageExtensions.SaveAsPngAsync(image, Path.Combine(images.Path, "smear.png"), TestContext.Current.CancellationToken);
        // A data folder made by this version (storage lists it, migrating nothing), then its newest migration marked as not applied.
        Assert.Equal(0, (await Run("storage", "--delete-staging", "--data-dir", data.Path)).Code);
        string db = Path.Combine(data.Path, "wbcportal.db");
        await using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=False"))
        {
            await c.OpenAsync(TestContext.Current.CancellationToken);
            await using var command = c.CreateCommand();
            command.CommandText = "DELETE FROM __EFMigrationsHistory WHERE MigrationId = (SELECT MAX(MigrationId) FROM __EFMigrationsHistory)";
            Assert.Equal(1, await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken));
        }
        byte[] before = await File.ReadAllBytesAsync(db, TestContext.Current.CancellationToken);
        var (code, stdout, stderr) = await Run("smear", "--model", "some-run", images.Path, "--data-dir", data.Path);
        Assert.Equal(5, code);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("older version of WbcPortal", line);
        Assert.Equal(before, await File.ReadAllBytesAsync(db, TestContext.Current.CancellationToken));
        // info still describes the folder.
        Assert.Equal(0, (await Run("info", "--data-dir", data.Path)).Code);
    }

    [Fact]
    public async Task Help_lists_the_verbs()
    {
        var (code, stdout, _) = await Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("info", stdout);
        Assert.Contains("bench", stdout);
        Assert.Contains("--data-dir", stdout);
    }

    [Fact]
    public void Web_server_arguments_are_not_taken_for_verbs()
    {
        Assert.False(CliApp.IsVerbInvocation(["--urls", "http://127.0.0.1:5000", "--data-dir", "x"]));
        Assert.False(CliApp.IsVerbInvocation(["--urls=http://127.0.0.1:5000", "Storage:DataDirectory=x", "/Compute:Device", "cpu"]));
        Assert.True(CliApp.IsVerbInvocation(["--data-dir", "x", "info"]));
        Assert.True(CliApp.IsVerbInvocation(["-h"]));
        Assert.True(CliApp.IsVerbInvocation(["--data-dir", "x", "predcit"]));
    }

    [Fact]
    public async Task A_mistyped_verb_is_refused_with_the_list_of_verbs_and_starts_no_server()
    {
        using var data = new TempDirectory();
        // The real executable: before, this started the web server on the default port and never returned.
        var (code, output) = await PortalProcess.RunToExitAsync("predcit", "--model", "x", "some.jpg", "--data-dir", data.Path);
        Assert.Equal(2, code);
        string line = output.Trim();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("WbcPortal: unknown verb 'predcit'. Verbs: info, import, groups, split, train, resume, evaluate, bench", line);
        Assert.Empty(Directory.GetFileSystemEntries(data.Path));
    }

    [Fact]
    public async Task A_writing_verb_is_refused_while_another_process_holds_the_data_folder()
    {
        using var data = new TempDirectory();
        using (var held = DataFolderLock.Acquire(data.Path, "WbcPortal test holder", "held by the test"))
        {
            var (code, stdout, stderr) = await Run("split", "nothing", "--strategy", "random", "--data-dir", data.Path);
            Assert.Equal(3, code);
            Assert.Empty(stdout);
            string line = stderr.Trim();
            Assert.DoesNotContain('\n', line);
            Assert.Contains($"is in use by WbcPortal test holder (process {Environment.ProcessId} on {Environment.MachineName}", line);
            // Read-only verbs still work beside the holder.
            var info = await Run("info", "--json", "--data-dir", data.Path);
            Assert.Equal(0, info.Code);
        }
        // Released: the same verb now gets past the lock (and fails on its own terms).
        var after = await Run("split", "nothing", "--strategy", "random", "--data-dir", data.Path);
        Assert.Equal(1, after.Code);
        Assert.Contains("No dataset 'nothing'", after.Stderr);
    }

    [Fact]
    public async Task Train_refuses_a_split_without_a_test_part_unless_told()
    {
        using var data = new TempDirectory();
        using var source = new TempDirectory();
        ImportFixtures.ClassFolders(source.Path, ["EOSINOPHIL", "NEUTROPHIL"], 10);
        Assert.Equal(0, (await Run("import", source.Path, "--name", "train-only", "--data-dir", data.Path)).Code);
        await WbcPortal.Tests.Browser.SplitsBrowserTests.AddSplitWithoutTestAsync(data.Path, "train-only", "old-folders-split");

        var (code, stdout, stderr) = await Run("train", "--split", "old-folders-split", "--preset", "default", "--data-dir", data.Path);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal("train: split 'old-folders-split' has no test part, so a run on it reports no figures there; choose a split with all three parts, or pass --allow-incomplete-split", stderr.Trim());
    }
}
