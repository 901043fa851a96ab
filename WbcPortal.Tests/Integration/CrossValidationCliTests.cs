using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WbcPortal.Cli;
using WbcPortal.Tests.Engine.Datasets;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary><c>train --folds K</c>: group k-fold cross-validation end to end through the verbs, and a killed one resumed.</summary>
[Collection(nameof(WbcPortal.Tests.Engine.Training.TorchRandomCollection))]
[Trait("Category", "Torch")]
public sealed class CrossValidationCliTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-cv-cli");
    private readonly TempDirectory source = new("wbc-cv-src");

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

    /// <summary>A grouped dataset, a split whose test part the cross-validation must leave alone, and a tiny configuration.</summary>
    private async Task<(string Config, int TrainAndVal)> PrepareAsync(int perClass, int round1Epochs)
    {
        ImportFixtures.ClassFolders(source.Path, ["EOS", "NEU"], perClass, seed: 5);
        Assert.Equal(0, (await Run("import", source.Path, "--name", "drawn")).Code);
        Assert.Equal(0, (await Run("groups", "drawn")).Code);
        var (code, stdout, stderr) = await Run("split", "drawn", "--strategy", "grouped", "--ratios", "0.6,0.2,0.2", "--seed", "1", "--name", "src", "--json");
        Assert.True(code == 0, stderr);
        var parts = JsonDocument.Parse(stdout).RootElement.GetProperty("parts");
        int trainAndVal = new[] { "train", "val" }.Sum(p => parts.GetProperty(p).EnumerateObject().Sum(c => c.Value.GetInt32()));
        var config = Path.Combine(source.Path, "tiny.json");
        await File.WriteAllTextAsync(config, $$"""
            { "inputHeight": 48, "inputWidth": 64, "head": { "hidden": [8], "dropout": 0.2 },
              "round1": { "epochs": {{round1Epochs}}, "learningRate": 0.003 }, "round2": { "epochs": 0, "learningRate": 0.0001 },
              "batchSize": 4, "seed": 3, "device": "cpu" }
            """, TestContext.Current.CancellationToken);
        return (config, trainAndVal);
    }

    [Fact]
    public async Task Three_folds_train_one_run_each_and_print_every_fold_with_mean_and_spread()
    {
        var (config, trainAndVal) = await PrepareAsync(12, 2);
        var (code, stdout, stderr) = await Run("train", "--split", "src", "--config", config, "--folds", "3", "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("fold 3/3", stderr);
        var doc = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("src-cv3-s3", doc.GetProperty("run").GetString());
        Assert.Equal("src-cv3-s3", doc.GetProperty("crossValidation").GetString());
        Assert.Equal("Succeeded", doc.GetProperty("status").GetString());
        Assert.Equal(3, doc.GetProperty("k").GetInt32());
        Assert.Equal("cpu", doc.GetProperty("device").GetString());
        Assert.Contains(doc.GetProperty("rounds").EnumerateArray(), r => r.GetProperty("name").GetString() == "model");

        var folds = doc.GetProperty("folds").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3], folds.Select(f => f.GetProperty("fold").GetInt32()));
        Assert.Equal(["src-cv3-s3-fold1", "src-cv3-s3-fold2", "src-cv3-s3-fold3"], folds.Select(f => f.GetProperty("run").GetString()));
        foreach (var f in folds)
        {
            Assert.Equal("Succeeded", f.GetProperty("status").GetString());
            Assert.InRange(f.GetProperty("accuracy").GetDouble(), 0, 1);
            Assert.InRange(f.GetProperty("macroF1").GetDouble(), 0, 1);
            Assert.InRange(f.GetProperty("ece").GetDouble(), 0, 1);
            Assert.InRange(f.GetProperty("originalsAccuracy").GetDouble(), 0, 1);
            Assert.Equal(["EOS", "NEU"], f.GetProperty("perClassRecall").EnumerateObject().Select(c => c.Name));
            Assert.InRange(f.GetProperty("testOriginals").GetInt32(), 2, f.GetProperty("testImages").GetInt32());
        }
        // Every train or validation image of the source split is tested exactly once; its test part never.
        Assert.Equal(trainAndVal, folds.Sum(f => f.GetProperty("testImages").GetInt32()));

        var accuracies = folds.Select(f => f.GetProperty("accuracy").GetDouble()).ToList();
        double mean = accuracies.Average();
        double sd = Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / 2);
        Assert.Equal(mean, doc.GetProperty("mean").GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(sd, doc.GetProperty("spread").GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(["EOS", "NEU"], doc.GetProperty("mean").GetProperty("perClassRecall").EnumerateObject().Select(c => c.Name));
        Assert.True(doc.GetProperty("spread").GetProperty("macroF1").ValueKind == JsonValueKind.Number);

        // Each fold is an ordinary split, labelled as a fold.
        Assert.Equal("fold 2 of 3 of src", (await ScalarAsync<string>("SELECT json_extract(ReportJson, '$.note') FROM splits WHERE Name = 'src-cv3-s3-fold2'"))[..18]);
        Assert.Equal(0L, await ScalarAsync<long>(
            "SELECT COUNT(*) FROM split_members f JOIN split_members s ON s.DatasetImageId = f.DatasetImageId " +
            "WHERE s.SplitId = (SELECT Id FROM splits WHERE Name = 'src') AND s.Part = 'test' AND f.SplitId IN (SELECT Id FROM splits WHERE Name LIKE 'src-cv3-s3-fold%')"));

        // Each fold's split was leak-checked before its run trained (so its figures carry an honesty label, never "not checked"),
        // and no fold's model, trained on part of the data, became the active model by itself.
        Assert.All(folds, f => Assert.NotEqual("unchecked", f.GetProperty("splitHonesty").GetProperty("status").GetString()));
        Assert.Equal(3L, await ScalarAsync<long>("SELECT COUNT(*) FROM splits WHERE Name LIKE 'src-cv3-s3-fold%' AND json_extract(ReportJson, '$.leakCheck') IS NOT NULL"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT COUNT(*) FROM models WHERE IsActive = 1"));

        // Its stored out-of-fold predictions give the dataset's label issues at once (fine-tuned mode): every image the
        // folds tested is ranked, once; and the cheap mode (frozen features, its own group folds) ranks every image of the dataset.
        var (issuesCode, issuesOut, issuesErr) = await Run("label-issues", "drawn", "--cross-validation", "src-cv3-s3", "--json");
        Assert.True(issuesCode == 0, issuesErr);
        var issues = JsonDocument.Parse(issuesOut).RootElement;
        Assert.Equal(trainAndVal, issues.GetProperty("images").GetInt32());
        Assert.Equal(trainAndVal, issues.GetProperty("ranking").EnumerateArray().Select(r => r.GetProperty("image").GetInt32()).Distinct().Count());
        var selfConfidence = issues.GetProperty("ranking").EnumerateArray().Select(r => r.GetProperty("selfConfidence").GetDouble()).ToList();
        Assert.Equal(selfConfidence.Order(), selfConfidence);
        Assert.Equal(["EOS", "NEU"], issues.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        // CLI.md's items: every image once, by its path in the dataset, most suspect first.
        var items = issues.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(trainAndVal, items.Select(i => i.GetProperty("path").GetString()).Distinct().Count());
        Assert.All(items, i => Assert.Contains('/', i.GetProperty("path").GetString()!));
        var scores = items.Select(i => i.GetProperty("score").GetDouble()).ToList();
        Assert.Equal(scores.OrderDescending(), scores);
        Assert.Equal(1 - selfConfidence[0], scores[0], 9);
        // Without a mode, a dataset with a finished cross-validation gets its out-of-fold predictions, and says so.
        var (autoCode, autoOut, autoErr) = await Run("label-issues", "drawn", "--json");
        Assert.True(autoCode == 0, autoErr);
        Assert.Contains("cross-validation 'src-cv3-s3'", autoErr);
        Assert.Equal(issues.GetProperty("mode").GetString(), JsonDocument.Parse(autoOut).RootElement.GetProperty("mode").GetString());
        Assert.NotEqual("frozen-head", issues.GetProperty("mode").GetString());
        var (cheapCode, cheapOut, cheapErr) = await Run("label-issues", "drawn", "--folds", "3", "--mode", "frozen-head", "--json");
        Assert.True(cheapCode == 0, cheapErr);
        var cheap = JsonDocument.Parse(cheapOut).RootElement;
        Assert.Equal(24, cheap.GetProperty("images").GetInt32());
        Assert.Equal("frozen-head", cheap.GetProperty("mode").GetString());
        Assert.InRange(cheap.GetProperty("outOfFoldAccuracy").GetDouble(), 0, 1);
        Assert.True(cheap.GetProperty("featureSeconds").GetDouble() > 0);
        var (badCode, _, badErr) = await Run("label-issues", "drawn", "--folds", "11");
        Assert.NotEqual(0, badCode);
        Assert.Contains("3 to 10 folds", badErr);

        // One deployable model: the fold models averaged in one graph (its logits are the mean of theirs), calibrated on the split's
        // validation part, judged on its test part, registered with those figures (not made active by itself); a second is refused.
        var (ensCode, ensOut, ensErr) = await Run("ensemble", "src-cv3-s3", "--json");
        Assert.True(ensCode == 0, ensErr);
        var ensemble = JsonDocument.Parse(ensOut).RootElement;
        Assert.Equal("src-cv3-s3-ensemble", ensemble.GetProperty("model").GetString());
        Assert.Equal(3, ensemble.GetProperty("members").GetInt32());
        Assert.Equal("split src / test", ensemble.GetProperty("test").GetProperty("source").GetString());
        Assert.Equal(await ScalarAsync<long>("SELECT COUNT(*) FROM split_members WHERE Part = 'test' AND SplitId = (SELECT Id FROM splits WHERE Name = 'src')"),
            ensemble.GetProperty("test").GetProperty("images").GetInt32());
        Assert.InRange(ensemble.GetProperty("test").GetProperty("accuracy").GetDouble(), 0, 1);
        Assert.True(ensemble.GetProperty("msPerImage").GetDouble() > 0);
        Assert.Equal(1L, await ScalarAsync<long>("SELECT COUNT(*) FROM models WHERE Name = 'src-cv3-s3-ensemble' AND CrossValidationId IS NOT NULL AND ReportJson IS NOT NULL AND IsActive = 0"));
        var sessions = new WbcPortal.Engine.Inference.OnnxSessionFactory(new WbcPortal.Engine.Compute.ComputeOptions { OnnxUseCuda = false });
        var registry = new WbcPortal.Engine.Models.Backbones.BackboneRegistry([new WbcPortal.Engine.Models.Backbones.ResNet18Backbone(WbcPortal.Engine.Models.Backbones.PretrainedModelFiles.Default)]);
        using (var cell = LeakCheckerTests.Smear(seed: 77, width: 160, height: 120))
        {
            float[] Logits(string relative)
            {
                using var classifier = WbcPortal.Engine.Inference.OnnxClassifier.Load(Path.Combine(data.Path, relative), sessions, registry);
                return classifier.Logits([cell])[0];
            }
            var averaged = Logits(ensemble.GetProperty("onnx").GetString()!);
            var members = (await ScalarsAsync("SELECT ModelPath FROM runs WHERE Name LIKE 'src-cv3-s3-fold%' ORDER BY Id")).Select(Logits).ToList();
            for (int c = 0; c < averaged.Length; c++) Assert.Equal(members.Average(m => m[c]), averaged[c], 4);
        }
        var (twiceCode, _, twiceErr) = await Run("ensemble", "src-cv3-s3");
        Assert.NotEqual(0, twiceCode);
        Assert.Contains("exists already", twiceErr);

        // Resume of a finished cross-validation (by its name or a fold run's) trains nothing and prints the same figures.
        var (again, againOut, againErr) = await Run("resume", "src-cv3-s3-fold2", "--json");
        Assert.True(again == 0, againErr);
        Assert.DoesNotContain("fold 1/3: run", againErr);
        Assert.Equal(mean, JsonDocument.Parse(againOut).RootElement.GetProperty("mean").GetProperty("accuracy").GetDouble(), 12);
    }

    [Fact]
    public async Task Too_many_folds_for_a_class_are_refused_in_one_line()
    {
        var (config, _) = await PrepareAsync(5, 1);
        var (code, _, stderr) = await Run("train", "--split", "src", "--config", config, "--folds", "8");
        Assert.NotEqual(0, code);
        Assert.Contains("8 folds need at least 8 source groups", stderr);
    }

    [Fact]
    public async Task A_killed_cross_validation_resumes_its_unfinished_folds_only()
    {
        var ct = TestContext.Current.CancellationToken;
        var (config, _) = await PrepareAsync(12, 4);
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { PortalProcess.PortalDll, "train", "--split", "src", "--config", config, "--folds", "3", "--name", "cv", "--data-dir", data.Path }) info.ArgumentList.Add(a);
        using (var process = Process.Start(info)!)
        {
            var deadline = DateTime.UtcNow.AddSeconds(300);
            // Killed once fold 1 has succeeded and fold 2 has recorded an epoch.
            while (await ScalarAsync<long>("SELECT COUNT(*) FROM run_epochs e JOIN runs r ON r.Id = e.RunId WHERE r.Name = 'cv-fold2'") < 1)
            {
                if (process.HasExited) Assert.Fail("the cross-validation ended before it could be killed: " + await process.StandardError.ReadToEndAsync(ct));
                Assert.True(DateTime.UtcNow < deadline, "fold 2 recorded no epoch within 300 s");
                await Task.Delay(100, ct);
            }
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(ct);
        }
        Assert.Equal("Succeeded", await ScalarAsync<string>("SELECT Status FROM runs WHERE Name = 'cv-fold1'"));
        long fold1Finished = await ScalarAsync<long>("SELECT FinishedAt FROM runs WHERE Name = 'cv-fold1'");

        var (code, stdout, stderr) = await PortalProcess.RunVerbAsync(TimeSpan.FromSeconds(480), "resume", "cv", "--json", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        Assert.Contains("marked Interrupted", stderr);
        Assert.DoesNotContain("fold 1/3: run", stderr);
        var doc = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("Succeeded", doc.GetProperty("status").GetString());
        Assert.All(doc.GetProperty("folds").EnumerateArray(), f => Assert.Equal("Succeeded", f.GetProperty("status").GetString()));
        Assert.Equal(fold1Finished, await ScalarAsync<long>("SELECT FinishedAt FROM runs WHERE Name = 'cv-fold1'"));
        // Fold 2 resumed after its recorded epochs: each epoch exactly once.
        Assert.Equal(4L, await ScalarAsync<long>("SELECT COUNT(*) FROM run_epochs e JOIN runs r ON r.Id = e.RunId WHERE r.Name = 'cv-fold2'"));
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        await c.OpenAsync();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        var value = await command.ExecuteScalarAsync();
        if (value is null or DBNull) return default!;
        return (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<List<string>> ScalarsAsync(string sql)
    {
        await using var c = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")}");
        await c.OpenAsync();
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        var values = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) values.Add(reader.GetString(0));
        return values;
    }
}
