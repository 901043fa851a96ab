using System.Diagnostics;
using System.Text.Json;
using SixLabors.ImageSharp;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>Splits that cannot silently be empty, and the storage verb, through the real executable as a user runs them.</summary>
[Trait("Category", "Torch")]
public class SplitAndStorageCliTests
{
    /// <summary>Runs the executable to its end, stdout and stderr apart (a --json document is stdout alone).</summary>
    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var process = PortalProcess.Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string TrainOnlyZip(string dir)
    {
        var entries = new List<(string, byte[])>();
        int seed = 500;
        foreach (var cls in new[] { "EOSINOPHIL", "NEUTROPHIL" })
        {
            for (int i = 0; i < 20; i++) entries.Add(($"TRAIN/{cls}/{cls.ToLowerInvariant()}_{i}.jpg", ImportFixtures.Jpeg(seed++)));
        }
        var zip = Path.Combine(dir, "train-only.zip");
        ImportFixtures.Zip(zip, entries);
        return zip;
    }

    [Fact]
    public async Task A_folders_split_of_a_zip_with_only_TRAIN_is_refused_in_one_line_and_carving_gives_a_test_part()
    {
        using var data = new TempDirectory();
        using var src = new TempDirectory();
        var import = await RunAsync("import", TrainOnlyZip(src.Path), "--name", "train-only", "--data-dir", data.Path);
        Assert.True(import.Code == 0, import.Stderr);

        var refused = await RunAsync("split", "train-only", "--strategy", "folders", "--data-dir", data.Path);
        Assert.NotEqual(0, refused.Code);
        var lines = refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{refused.Stderr}");
        Assert.Contains("no VAL or TEST folder", lines[0]);
        Assert.Contains("--carve-missing", lines[0]);
        Assert.Equal("", refused.Stdout.Trim());

        var carved = await RunAsync("split", "train-only", "--strategy", "folders", "--carve-missing", "--json", "--data-dir", data.Path);
        Assert.True(carved.Code == 0, carved.Stderr);
        using var doc = JsonDocument.Parse(carved.Stdout);
        var root = doc.RootElement;
        Assert.Equal("train-only-folders-carved-s42", root.GetProperty("split").GetString());
        int Part(string p) => root.GetProperty("parts").GetProperty(p).EnumerateObject().Sum(c => c.Value.GetInt32());
        Assert.True(Part("test") > 0, carved.Stdout);
        Assert.True(Part("val") > 0, carved.Stdout);
        Assert.Equal(40, Part("train") + Part("val") + Part("test"));
        Assert.Equal(["val", "test"], root.GetProperty("carvedFromTrain").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("carved from TRAIN", root.GetProperty("note").GetString());
        Assert.Equal(0, root.GetProperty("groupsOnSeveralSides").GetInt32());
    }

    [Fact]
    public async Task Storage_lists_and_deletes_staged_uploads_and_unreferenced_files_but_never_a_referenced_one()
    {
        using var data = new TempDirectory();
        using var src = new TempDirectory();
        ImportFixtures.ClassFolders(src.Path, ["EOSINOPHIL", "NEUTROPHIL"], 6, seed: 7);
        var import = await RunAsync("import", src.Path, "--name", "kept", "--data-dir", data.Path);
        Assert.True(import.Code == 0, import.Stderr);
        var storedBefore = Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories).Order().ToList();
        Assert.Equal(12, storedBefore.Count);

        // Leftovers: a staged upload of a stopped import, a stored image and thumbnail no row holds, a half-written
        // temp file and the folder of a run that no longer exists.
        ImportFixtures.Write(Path.Combine(data.Path, "uploads", "0123456789abcdef0123456789abcdef"), "upload.zip", new byte[300_000]);
        string orphanSha = new('a', 64);
        ImportFixtures.Write(data.Path, $"images/aa/{orphanSha}.jpg", ImportFixtures.Jpeg(1));
        ImportFixtures.Write(data.Path, $"thumbs/aa/{orphanSha}.jpg", ImportFixtures.Jpeg(2));
        ImportFixtures.Write(data.Path, $"images/bb/{new string('b', 64)}.jpg.42.0f.tmp", [1, 2, 3]);
        ImportFixtures.Write(data.Path, "runs/999/checkpoints/epoch-1.pt", new byte[1000]);

        var listed = await RunAsync("storage", "--json", "--data-dir", data.Path);
        Assert.True(listed.Code == 0, listed.Stderr);
        using (var doc = JsonDocument.Parse(listed.Stdout))
        {
            var root = doc.RootElement;
            var dataset = Assert.Single(root.GetProperty("datasets").EnumerateArray());
            Assert.Equal("kept", dataset.GetProperty("name").GetString());
            Assert.Equal(12, dataset.GetProperty("images").GetInt32());
            Assert.True(dataset.GetProperty("imageBytes").GetInt64() > 0);
            Assert.True(dataset.GetProperty("thumbnailBytes").GetInt64() > 0);
            var staged = Assert.Single(root.GetProperty("staging").EnumerateArray());
            Assert.Equal(300_000, staged.GetProperty("bytes").GetInt64());
            Assert.False(staged.GetProperty("inUse").GetBoolean());
            var unreferenced = root.GetProperty("unreferenced").EnumerateArray().Select(u => (Kind: u.GetProperty("kind").GetString(), Path: u.GetProperty("path").GetString())).ToList();
            Assert.Contains(("image", $"images/aa/{orphanSha}.jpg"), unreferenced);
            Assert.Contains(("thumbnail", $"thumbs/aa/{orphanSha}.jpg"), unreferenced);
            Assert.Contains(unreferenced, u => u.Kind == "temp");
            Assert.Contains(("run-folder", "runs/999"), unreferenced);
            Assert.Equal(4, unreferenced.Count);
            foreach (var key in new[] { "totalBytes", "storeBytes", "databaseBytes", "jobDatabaseBytes", "runs", "models", "stagingQuotaBytes", "unreferencedBytes" })
            {
                Assert.True(root.TryGetProperty(key, out _), $"missing {key}");
            }
        }
        Assert.True(File.Exists(Path.Combine(data.Path, "uploads", "0123456789abcdef0123456789abcdef", "upload.zip")), "listing deletes nothing");

        var deleted = await RunAsync("storage", "--delete-staging", "--delete-unreferenced", "--json", "--data-dir", data.Path);
        Assert.True(deleted.Code == 0, deleted.Stderr);
        using (var doc = JsonDocument.Parse(deleted.Stdout))
        {
            var root = doc.RootElement;
            // Four: the half-written .tmp file is already gone, removed by the start-up every writing verb runs under the lock.
            Assert.Equal(4, root.GetProperty("deleted").GetProperty("removed").GetArrayLength());
            Assert.False(File.Exists(Path.Combine(data.Path, "images", "bb", $"{new string('b', 64)}.jpg.42.0f.tmp")));
            Assert.True(root.GetProperty("deleted").GetProperty("freedBytes").GetInt64() >= 300_000);
            Assert.Equal(0, root.GetProperty("staging").GetArrayLength());
            Assert.Equal(0, root.GetProperty("unreferenced").GetArrayLength());
        }
        Assert.False(Directory.Exists(Path.Combine(data.Path, "runs", "999")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(data.Path, "uploads")));
        Assert.Equal(storedBefore, Directory.GetFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories).Order().ToList());

        // The dataset's images are still served and decodable, thumbnails too.
        await using var portal = await PortalProcess.StartOnAsync(data.Path);
        using var http = portal.CreateClient();
        foreach (var file in storedBefore)
        {
            string sha = Path.GetFileNameWithoutExtension(file);
            foreach (var url in new[] { $"api/images/{sha}", $"api/images/{sha}/thumb" })
            {
                using var response = await http.GetAsync(url, TestContext.Current.CancellationToken);
                Assert.True(response.IsSuccessStatusCode, $"{url}: {response.StatusCode}");
                using var image = Image.Load(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
                Assert.True(image.Width > 0);
            }
        }
    }

    [Fact]
    public async Task Two_imports_into_one_dataset_at_once_never_end_in_a_stack_trace()
    {
        using var data = new TempDirectory();
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        ImportFixtures.ClassFolders(a.Path, ["EOSINOPHIL", "NEUTROPHIL"], 5, seed: 11);
        ImportFixtures.ClassFolders(b.Path, ["EOSINOPHIL", "NEUTROPHIL"], 5, seed: 12);
        var runs = await Task.WhenAll(
            RunAsync("import", a.Path, "--name", "together", "--data-dir", data.Path),
            RunAsync("import", b.Path, "--name", "together", "--data-dir", data.Path));
        Assert.Contains(runs, r => r.Code == 0);
        foreach (var r in runs.Where(r => r.Code != 0))
        {
            // The second is refused by the data folder's lock, naming its holder, in one line.
            Assert.Equal(3, r.Code);
            var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1, r.Stderr);
            Assert.DoesNotContain("   at ", r.Stderr);
        }
    }

    [Fact]
    public async Task Storage_on_an_empty_data_folder_lists_nothing_and_creates_nothing()
    {
        using var data = new TempDirectory();
        var listed = await RunAsync("storage", "--json", "--data-dir", data.Path);
        Assert.True(listed.Code == 0, listed.Stderr);
        using var doc = JsonDocument.Parse(listed.Stdout);
        Assert.Equal(0, doc.RootElement.GetProperty("datasets").GetArrayLength());
        Assert.Empty(Directory.GetFileSystemEntries(data.Path));
    }
}
