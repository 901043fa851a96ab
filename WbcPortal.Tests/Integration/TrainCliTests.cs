using System.Text.Json;
using WbcPortal.Cli;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>import → split → train → resume through the headless verbs, on images the test draws.</summary>
[Trait("Category", "Torch")]
public sealed class TrainCliTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-train-cli");
    private readonly TempDirectory source = new("wbc-train-src");

    public void Dispose()
    {
        data.Dispose();
        source.Dispose();
    }

    private async Task<(int Code, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--data-dir", data.Path], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task A_run_trains_two_rounds_exports_onnx_and_prints_the_contract()
    {
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], 12);
        Assert.Equal(0, (await Run("import", source.Path, "--name", "drawn")).Code);
        // source groups found (every drawn image is its own original), so evaluations also count by original
        Assert.Equal(0, (await Run("groups", "drawn")).Code);
        var (splitCode, _, splitErr) = await Run("split", "drawn", "--strategy", "random", "--ratios", "0.5,0.25,0.25", "--name", "drawn-split");
        Assert.True(splitCode == 0, splitErr);

        var config = Path.Combine(source.Path, "tiny.json");
        await File.WriteAllTextAsync(config, """
            { "inputHeight": 48, "inputWidth": 64, "head": { "hidden": [8], "dropout": 0 },
              "round1": { "epochs": 1, "learningRate": 0.003 },
              "round2": { "epochs": 1, "learningRate": 0.0001, "unfrozenStages": ["layer4"] },
              "batchSize": 8, "seed": 3, "device": "cpu" }
            """, TestContext.Current.CancellationToken);
        var (code, stdout, stderr) = await Run("train", "--split", "drawn-split", "--config", config, "--name", "tiny-run", "--json");
        Assert.True(code == 0, stderr);
        var doc = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("tiny-run", doc.GetProperty("run").GetString());
        Assert.Equal("Succeeded", doc.GetProperty("status").GetString());
        Assert.Equal("cpu", doc.GetProperty("device").GetString());
        Assert.True(doc.GetProperty("seconds").GetDouble() > 0);
        // the trainer's three stages, then the exported (calibrated ONNX) model on the same parts
        Assert.Equal(["untrained", "round1", "round2", "model"], doc.GetProperty("rounds").EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        foreach (var round in doc.GetProperty("rounds").EnumerateArray())
        {
            Assert.InRange(round.GetProperty("testAccuracy").GetDouble(), 0, 1);
            Assert.InRange(round.GetProperty("testMacroF1").GetDouble(), 0, 1);
        }
        var model = Path.Combine(data.Path, doc.GetProperty("model").GetString()!);
        Assert.True(File.Exists(model));
        // A succeeded run is never resumed: its optimizer state and spare weights went after the export; the model's
        // weights stay (Grad-CAM reads them) and the checkpoint names them.
        string checkpoints = Path.Combine(Path.GetDirectoryName(model)!, "checkpoints");
        Assert.Equal(["checkpoint.json", Path.GetFileName(Assert.Single(Directory.GetFiles(checkpoints, "weights-*.bin")))],
            Directory.GetFiles(checkpoints).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.NotNull(WbcPortal.Engine.Training.Checkpoint.Load(checkpoints));

        // The exported model was evaluated on val and test at the end of training; `evaluate` gives the same figures.
        var (evalCode, evalOut, evalErr) = await Run("evaluate", "--run", "tiny-run", "--split", "drawn-split", "--part", "test", "--json");
        Assert.True(evalCode == 0, evalErr);
        var cli = JsonDocument.Parse(evalOut).RootElement;
        var stored = StoredModelEvaluations();
        Assert.Equal(["test", "val"], stored.Select(e => e.Part).Order());
        var report = JsonDocument.Parse(stored.Single(e => e.Part == "test").ReportJson).RootElement;
        Assert.Equal(report.GetProperty("accuracy").GetDouble(), cli.GetProperty("accuracy").GetDouble());
        Assert.Equal(report.GetProperty("macroF1").GetDouble(), cli.GetProperty("macroF1").GetDouble());
        Assert.Equal(report.GetProperty("calibrated").GetProperty("ece").GetDouble(), cli.GetProperty("ece").GetDouble());
        Assert.Equal(report.GetProperty("calibrated").GetProperty("meanConfidence").GetDouble(), cli.GetProperty("meanConfidence").GetDouble(), 12);
        static int[][] Matrix(JsonElement e) => e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        Assert.Equal(Matrix(report.GetProperty("confusion")), Matrix(cli.GetProperty("confusion").GetProperty("matrix")));
        Assert.Equal(["EOS", "NEU"], cli.GetProperty("confusion").GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(6, cli.GetProperty("perClass").EnumerateObject().Sum(c => c.Value.GetProperty("support").GetInt32()));
        Assert.True(cli.GetProperty("temperature").GetDouble() > 0);
        // The model carries the reject threshold fitted on validation; the report counts its "Unidentified" images, and
        // the CLI adds coverage and selectiveAccuracy (CLI.md) where the threshold is above 0.
        var metadata = WbcPortal.Engine.Models.Onnx.ClassifierOnnxMetadata.Read(model);
        var coverage = report.GetProperty("coverage");
        Assert.Equal(metadata.RejectThreshold, coverage.GetProperty("threshold").GetDouble());
        Assert.Equal(metadata.RejectThreshold, cli.GetProperty("unidentified").GetProperty("threshold").GetDouble());
        Assert.Equal(0.95, metadata.RejectTargetAccuracy);
        Assert.Equal(metadata.RejectThreshold > 0, cli.TryGetProperty("coverage", out var cliCoverage));
        if (metadata.RejectThreshold > 0) Assert.Equal(coverage.GetProperty("atThreshold").GetProperty("coverage").GetDouble(), cliCoverage.GetDouble());
        // A split of a grouped dataset is also counted by source original, with the same interval as the dashboard's
        // (six test images, each its own original, unless the grouper joined look-alikes).
        var byOriginal = report.GetProperty("byOriginal");
        Assert.InRange(cli.GetProperty("originals").GetProperty("count").GetInt32(), 2, 6);
        Assert.Equal(byOriginal.GetProperty("originals").GetInt32(), cli.GetProperty("originals").GetProperty("count").GetInt32());
        Assert.Equal(byOriginal.GetProperty("accuracyCi").GetProperty("low").GetDouble(), cli.GetProperty("originals").GetProperty("accuracyCi95")[0].GetDouble());
        Assert.Equal(byOriginal.GetProperty("accuracyCi").GetProperty("high").GetDouble(), cli.GetProperty("originals").GetProperty("accuracyCi95")[1].GetDouble());

        // A folder of class folders never imported, with a file that is not an image: evaluated, the bad file listed.
        await File.WriteAllTextAsync(Path.Combine(source.Path, "EOS", "notes.jpg"), "not an image", TestContext.Current.CancellationToken);
        var (folderCode, folderOut, folderErr) = await Run("evaluate", "--run", "tiny-run", "--folder", source.Path, "--json");
        Assert.True(folderCode == 0, folderErr);
        var folder = JsonDocument.Parse(folderOut).RootElement;
        Assert.Equal(24, folder.GetProperty("images").GetInt32());
        // The folder's copies are grouped into originals by the dataset grouper (each drawn image is its own, unless look-alikes join).
        Assert.InRange(folder.GetProperty("originals").GetProperty("count").GetInt32(), 2, 24);
        Assert.Contains(folder.GetProperty("rejected").EnumerateArray(), r => r.GetProperty("file").GetString()!.EndsWith("notes.jpg", StringComparison.Ordinal));
        Assert.Equal(3, StoredModelEvaluations().Count);
        Assert.Single(StoredModelEvaluations(), e => e.Part is null); // a folder evaluation has no part

        Directory.CreateDirectory(Path.Combine(source.Path, "BASOPHIL"));
        var (badCode, _, badErr) = await Run("evaluate", "--run", "tiny-run", "--folder", source.Path);
        Assert.NotEqual(0, badCode);
        Assert.Contains("BASOPHIL", badErr);
        Assert.NotEqual(0, (await Run("evaluate", "--run", "tiny-run", "--folder", Path.Combine(source.Path, "missing"))).Code);

        var (resumeCode, _, resumeErr) = await Run("resume", "tiny-run");
        Assert.Equal(1, resumeCode);
        Assert.Contains("is Succeeded", resumeErr);

        var (infoCode, info, _) = await Run("info", "--json");
        Assert.Equal(0, infoCode);
        Assert.Equal("tiny-run", JsonDocument.Parse(info).RootElement.GetProperty("activeModel").GetString());
    }

    /// <summary>The stored model-stage evaluations: their part as stored ("train", "val", "test"; null for a folder) and report.</summary>
    private List<(string? Part, string ReportJson)> StoredModelEvaluations()
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT Part, ReportJson FROM run_evaluations WHERE Stage = 'model'";
        using var reader = command.ExecuteReader();
        var list = new List<(string?, string)>();
        while (reader.Read()) list.Add((reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetString(1)));
        return list;
    }

    [Fact]
    public async Task Train_refuses_a_missing_split_or_a_bad_configuration()
    {
        var (code, _, stderr) = await Run("train", "--split", "nope", "--preset", "default");
        Assert.Equal(1, code);
        Assert.Contains("No split 'nope'", stderr);
        var bad = Path.Combine(source.Path, "bad.json");
        await File.WriteAllTextAsync(bad, """{ "batchSize": 0 }""", TestContext.Current.CancellationToken);
        (code, _, stderr) = await Run("train", "--split", "nope", "--config", bad);
        Assert.Equal(1, code);
        Assert.Contains("Batch size must be 1 to 1024", stderr);
        (code, _, stderr) = await Run("train", "--split", "nope");
        Assert.Equal(2, code);
        Assert.Contains("either --config FILE or --preset NAME", stderr);
    }
}
