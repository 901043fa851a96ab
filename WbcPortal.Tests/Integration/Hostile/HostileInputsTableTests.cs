using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Services.Benchmarks;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Smears;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Hostile;

/// <summary>
/// Issue 24 item 6: the hostile-inputs table. Each file case goes through the five paths that take files from outside
/// (dataset import of a zip, Classify's upload and batch, smears, <c>POST /api/v1/predict</c>, an evaluation upload);
/// each zip case through the three that open zips (and the other two as a file part); each request case through HTTP.
/// For every one: the portal still answers, the verdict is the same on every path (a valid odd image accepted
/// everywhere, a hostile one refused everywhere) with a reason that names no server path, no partial data is left in
/// staging, and nothing is written outside the data folder.
/// </summary>
[Collection(nameof(HostileInputsCollection))]
public sealed class HostileInputsTableTests(HostileInputsFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private const string Class = "EOSINOPHIL";

    /// <summary>
    /// File cases: the file's kind (see <see cref="HostileFiles"/>) and whether it is a valid image every path accepts. A JPEG
    /// with a small zip after its end marker is a valid JPEG: accepted everywhere alike (the stored original is served as
    /// image/jpeg with nosniff).
    /// </summary>
    public static TheoryData<string, bool> FileCases() => new()
    {
        { "good-jpeg", true }, { "good-png", true }, { "cmyk-progressive", true }, { "gray-progressive", true }, { "gray-jpeg", true },
        { "png-16bit", true }, { "png-gray", true }, { "png-interlaced", true }, { "jpeg-1x1", true }, { "png-1x1", true },
        { "empty", false }, { "truncated-jpeg", false }, { "truncated-png", false }, { "edited-header-8000x5000", false },
        { "jpeg-bomb-40mp", false }, { "png-bomb-pixels", false }, { "png-ztxt-bomb", false }, { "png-itxt-bomb", false },
        { "polyglot-jpeg-zip", true }, { "polyglot-html-png", false }, { "gif", false }, { "text", false }, { "file-30mb", false },
    };

    [Theory]
    [MemberData(nameof(FileCases))]
    public async Task A_file_gets_the_same_verdict_on_every_path(string kind, bool valid)
    {
        byte[] bytes = HostileFiles.Make(kind);
        string name = $"{kind}{(kind.Contains("png") ? ".png" : ".jpg")}";
        var verdicts = await RunAllPathsAsync(kind, name, bytes);
        foreach (var (path, (accepted, reason)) in verdicts)
        {
            Assert.True(accepted == valid, $"{kind} on {path}: expected {(valid ? "accepted" : "refused")}, got {(accepted ? "accepted" : "refused: " + reason)}");
            if (!accepted) AssertClearReason(reason, $"{kind} on {path}");
        }
    }

    /// <summary>Name cases: a good image under a hostile name; accepted or refused with a reason, never a crash or a file outside.</summary>
    public static TheoryData<string, string> NameCases() => new()
    {
        { "unicode-name", "细胞-é-\u202Egpj.jpg" },
        { "control-characters-name", "a\u0007b\u001b[31mred\u0000.jpg" },
        { "name-200-characters", new string('é', 200) + ".jpg" },
        { "traversal-name", "../../evil.jpg" },
    };

    [Theory]
    [MemberData(nameof(NameCases))]
    public async Task A_hostile_name_is_handled_on_every_path(string @case, string name)
    {
        var verdicts = await RunAllPathsAsync(@case, name, HostileFiles.Make("good-jpeg"));
        foreach (var (path, (accepted, reason)) in verdicts)
        {
            if (!accepted) AssertClearReason(reason, $"{@case} on {path}");
        }
        AssertNothingOutside();
    }

    /// <summary>Zip cases: the zip, and what each zip path must say (a fragment of the reason of the refused entry or of the whole zip).</summary>
    public static TheoryData<string> ZipCases() =>
        ["zip-slip", "absolute-path", "symbolic-link", "ratio-bomb", "entry-count-bomb", "declared-million-entries", "nested-zip", "wrong-crc", "entry-over-file-limit", "colliding-names"];

    [Theory]
    [MemberData(nameof(ZipCases))]
    public async Task A_hostile_zip_is_refused_where_zips_are_opened(string @case)
    {
        var (zip, expect) = BuildZip(@case);
        string zipName = $"{@case}.zip";

        // Import: the entry (or the whole zip) refused, the good image kept, nothing left in staging.
        var datasets = fixture.Services.GetRequiredService<DatasetService>();
        string importOutcome;
        string zipPath = Path.Combine(fixture.Root.Path, $"{Guid.NewGuid():N}.zip");
        await File.WriteAllBytesAsync(zipPath, zip, Ct);
        try
        {
            var summary = await datasets.ImportZipAsync($"zip-{@case}", zipPath, zipName, cancellationToken: Ct);
            var refused = summary.Rejected.Where(r => r.Reason != ImportReason.Accepted && r.Reason != ImportReason.Duplicate).ToList();
            importOutcome = refused.Count == 0 ? $"{summary.Images} imported" : $"{summary.Images} imported; refused: {string.Join("; ", refused.Select(r => $"{r.RelativePath}: {r.Message}"))}";
            if (expect.Import is { } fragment) Assert.Contains(fragment, importOutcome);
        }
        catch (InvalidDataException ex)
        {
            importOutcome = $"zip refused: {ex.Message}";
            Assert.True(expect.WholeZip, importOutcome);
            AssertClearReason(ex.Message, $"{@case} on import");
        }
        Record(@case, "import", importOutcome);
        AssertStagingEmpty();

        // Classify: the zip's images are collected with bounded reads; hostile entries are skipped with a reason.
        var uploads = fixture.Services.GetRequiredService<ClassifyUploads>();
        var collector = uploads.NewCollector();
        await uploads.AddAsync(collector, zipName, new MemoryStream(zip), Ct);
        string classifyOutcome = $"{collector.Inputs.Count} collected; skipped: {string.Join("; ", collector.Skipped.Select(s => $"{s.File}: {s.Reason}"))}";
        Record(@case, "classify", classifyOutcome);
        if (expect.Classify is { } classifyFragment) Assert.Contains(classifyFragment, classifyOutcome);
        foreach (var s in collector.Skipped) AssertClearReason(s.Reason, $"{@case} on classify");
        if (collector.Inputs.Count > 0)
        {
            var batch = await fixture.Services.GetRequiredService<PredictionService>().PredictAsync(fixture.Model, collector.Inputs, null, Ct);
            Assert.Equal(collector.Inputs.Count, batch.Outcomes.Count);
        }

        // Evaluation upload: unpacked under the import's checks into a folder of its own.
        var unpacker = fixture.Services.GetRequiredService<EvaluationZipUnpacker>();
        string root = Path.Combine(fixture.LocalData, "uploads", $"eval-{Guid.NewGuid():N}", "unpacked");
        string evaluationOutcome;
        try
        {
            var skipped = unpacker.Unpack(zipName, zipPath, root, Ct);
            int files = Directory.Exists(root) ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Count() : 0;
            evaluationOutcome = $"{files} unpacked; refused: {string.Join("; ", skipped.Select(s => $"{s.File}: {s.Reason}"))}";
            if (expect.Evaluation is { } evaluationFragment) Assert.Contains(evaluationFragment, evaluationOutcome);
            foreach (var s in skipped) AssertClearReason(s.Reason, $"{@case} on evaluation");
            Assert.True(Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) < 25L << 20, "nothing large was written");
        }
        catch (ArgumentException ex)
        {
            evaluationOutcome = $"zip refused: {ex.Message}";
            Assert.True(expect.WholeZip, evaluationOutcome);
            AssertClearReason(ex.Message, $"{@case} on evaluation");
        }
        finally
        {
            File.Delete(zipPath);
            if (Directory.Exists(Path.GetDirectoryName(root))) Directory.Delete(Path.GetDirectoryName(root)!, recursive: true);
        }
        Record(@case, "evaluation", evaluationOutcome);

        // The API and smears take images only: the zip is one part that is not an image.
        var (apiAccepted, apiReason) = await ApiAsync(zipName, zip);
        Assert.False(apiAccepted);
        Record(@case, "api", apiReason);
        AssertNothingOutside();
        await AssertPortalAnswersAsync();
    }

    [Fact]
    public async Task Thousands_of_parts_in_one_request_are_refused_with_413()
    {
        using var client = fixture.Portal.CreateClient(TimeSpan.FromSeconds(60));
        using var form = new MultipartFormDataContent();
        var tiny = HostileFiles.Make("jpeg-1x1");
        for (int i = 0; i < 3000; i++) form.Add(new ByteArrayContent(tiny), "images", $"p{i}.jpg");
        using var response = await client.PostAsync("/api/v1/predict", form, Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);
        Record("3000-parts", "api", $"{(int)response.StatusCode}: {body}");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        await AssertPortalAnswersAsync();
    }

    [Fact]
    public async Task A_slow_upload_does_not_hold_up_other_requests_and_leaves_no_temporary_file()
    {
        using var slowClient = fixture.Portal.CreateClient(TimeSpan.FromSeconds(30));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var trickle = new TrickleContent(cts.Token).Init();
        var slow = slowClient.PostAsync("/api/v1/predict", trickle, cts.Token);
        await Task.Delay(500, Ct);
        var (accepted, reason) = await ApiAsync("good.jpg", HostileFiles.Make("good-jpeg"));
        Assert.True(accepted, reason);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => slow);
        Record("slow-upload", "api", "other requests answered while a body trickled; the slow one was dropped");
        await AssertPortalAnswersAsync();
    }

    public static TheoryData<string> TraversalUrls() =>
    [
        "/api/images/..%2f..%2f..%2fetc%2fpasswd", "/api/images/..%2f..%2fwbcportal.db/thumb", "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/view?mode=gray",
        "/api/v1/models/..%2f..%2fetc%2fpasswd", "/api/v1/..%2f..%2fetc%2fpasswd", "/api/classify/..%2f..%2fetc%2fpasswd.csv", "/api/classify/..%2f..%2fwbcportal.db/0",
        "/api/classify/..%2f..%2f/0/..%2f..%2fetc%2fpasswd.png", "/api/smears/..%2f..%2fetc%2fpasswd/report.json", "/api/smears/..%2f..%2fetc/0",
        "/api/smears/..%2f..%2fetc/0/cells/0/..%2f..%2fpasswd.png", "/api/runs/1/report.json?x=..%2f..%2fetc%2fpasswd", "/api/datasets/1/review-decisions.csv/..%2f..%2fetc%2fpasswd",
        "/datasets/..%2f..%2fetc%2fpasswd", "/_framework/..%2f..%2f..%2fetc%2fpasswd",
    ];

    [Theory]
    [MemberData(nameof(TraversalUrls))]
    public async Task Path_traversal_in_a_route_parameter_reads_nothing_outside(string url)
    {
        using var client = fixture.Portal.CreateClient(TimeSpan.FromSeconds(30));
        using var response = await client.GetAsync(url, Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);
        Record($"traversal {url}", "http", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotEqual(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain("root:x:0:0", body);
        Assert.DoesNotContain("SQLite format", body);
        Assert.DoesNotContain(fixture.PortalData, body);
    }

    // ---- the paths

    private async Task<Dictionary<string, (bool Accepted, string Reason)>> RunAllPathsAsync(string @case, string name, byte[] bytes)
    {
        var verdicts = new Dictionary<string, (bool, string)>
        {
            ["import"] = await ImportAsync(@case, name, bytes),
            ["classify"] = await ClassifyAsync(name, bytes),
            ["smears"] = await SmearsAsync(name, bytes),
            ["api"] = await ApiAsync(name, bytes),
            ["evaluation"] = await EvaluationAsync(name, bytes),
        };
        foreach (var (path, (accepted, reason)) in verdicts) Record(@case, path, accepted ? "accepted" : $"refused: {reason}");
        AssertStagingEmpty();
        AssertNothingOutside();
        await AssertPortalAnswersAsync();
        return verdicts;
    }

    private static string EntryName(string name) => $"{Class}/{name.Replace('/', '_')}";

    private async Task<(bool, string)> ImportAsync(string @case, string name, byte[] bytes)
    {
        string zipPath = Path.Combine(fixture.Root.Path, $"{Guid.NewGuid():N}.zip");
        // Stored (not deflated), so the file itself is judged, not the zip's ratio; beside a good image, so the import goes on.
        await File.WriteAllBytesAsync(zipPath, HostileFiles.StoredZip((EntryName(name), bytes), ($"{Class}/anchor.png", HostileFiles.Make("good-png"))), Ct);
        try
        {
            var datasets = fixture.Services.GetRequiredService<DatasetService>();
            var summary = await datasets.ImportZipAsync($"file-{@case}", zipPath, "upload.zip", cancellationToken: Ct);
            var outcome = summary.Rejected.FirstOrDefault(r => r.Reason != ImportReason.Duplicate);
            return outcome is null ? (true, "") : (false, outcome.Message);
        }
        finally
        {
            File.Delete(zipPath);
        }
    }

    private async Task<(bool, string)> ClassifyAsync(string name, byte[] bytes)
    {
        var uploads = fixture.Services.GetRequiredService<ClassifyUploads>();
        var collector = uploads.NewCollector();
        await uploads.AddAsync(collector, name, new MemoryStream(bytes), Ct);
        if (collector.Skipped.FirstOrDefault() is { } skipped) return (false, skipped.Reason);
        var batch = await fixture.Services.GetRequiredService<PredictionService>().PredictAsync(fixture.Model, collector.Inputs, null, Ct);
        var outcome = Assert.Single(batch.Outcomes);
        return outcome.Error is null ? (true, "") : (false, outcome.Error);
    }

    private async Task<(bool, string)> SmearsAsync(string name, byte[] bytes)
    {
        var batch = await fixture.Services.GetRequiredService<SmearService>().AnalyzeAsync(fixture.Model, [new PredictionInput(name, bytes)], null, Ct);
        var image = Assert.Single(batch.Images);
        return image.Error is null ? (true, "") : (false, image.Error);
    }

    private async Task<(bool, string)> ApiAsync(string name, byte[] bytes)
    {
        using var client = fixture.Portal.CreateClient(TimeSpan.FromSeconds(120));
        // Written by hand: HttpClient refuses control characters in a part's file name, a hostile client does not.
        using var request = new MemoryStream();
        request.Write(Encoding.UTF8.GetBytes($"--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"{name.Replace("\"", "%22")}\"\r\nContent-Type: application/octet-stream\r\n\r\n"));
        request.Write(bytes);
        request.Write("\r\n--b--\r\n"u8);
        using var content = new ByteArrayContent(request.ToArray());
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=b");
        using var response = await client.PostAsync("/api/v1/predict", content, Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);
        Assert.NotEqual(HttpStatusCode.InternalServerError, response.StatusCode);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            return (false, $"{(int)response.StatusCode} {body}");
        }
        using var json = JsonDocument.Parse(body);
        var prediction = json.RootElement.GetProperty("predictions")[0];
        return prediction.TryGetProperty("error", out var error) ? (false, error.GetString()!) : (true, "");
    }

    private async Task<(bool, string)> EvaluationAsync(string name, byte[] bytes)
    {
        string folder = Path.Combine(fixture.LocalData, "uploads", $"eval-{Guid.NewGuid():N}");
        string zipPath = Path.Combine(folder, "upload.zip");
        Directory.CreateDirectory(folder);
        try
        {
            await File.WriteAllBytesAsync(zipPath, HostileFiles.StoredZip((EntryName(name), bytes), ($"{Class}/anchor.png", HostileFiles.Make("good-png"))), Ct);
            var skipped = fixture.Services.GetRequiredService<EvaluationZipUnpacker>().Unpack("upload.zip", zipPath, Path.Combine(folder, "unpacked"), Ct);
            if (skipped.Count > 0) return (false, skipped[0].Reason);
            var images = await fixture.Services.GetRequiredService<EvaluationService>().ResolveAsync(HostileInputsFixture.Labels,
                new EvaluationTarget.Folder(Path.Combine(folder, "unpacked"), WbcPortal.Engine.Evaluation.EvaluationSource.Zip("upload.zip")), Ct);
            if (images.Rejected.Count > 0) return (false, images.Rejected[0].Item2);
            Assert.Equal(2, images.Images.Count);
            return (true, "");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // ---- the zips

    private sealed record ZipExpectation(bool WholeZip, string? Import, string? Classify, string? Evaluation);

    private (byte[] Zip, ZipExpectation Expect) BuildZip(string @case)
    {
        var good = HostileFiles.Make("good-jpeg");
        var other = HostileFiles.Make("good-png");
        switch (@case)
        {
            case "zip-slip":
                return (HostileFiles.Zip(($"{Class}/good.jpg", good), ("../../evil.jpg", other)), new(false, "the path escapes", null, "the path escapes"));
            case "absolute-path":
                return (HostileFiles.Zip(($"{Class}/good.jpg", good), ("/tmp/evil.jpg", other)), new(false, "the path escapes", null, "the path escapes"));
            case "symbolic-link":
            {
                using var ms = new MemoryStream();
                using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
                {
                    using (var s = zip.CreateEntry($"{Class}/good.jpg").Open()) s.Write(good);
                    var link = zip.CreateEntry($"{Class}/link.jpg");
                    link.ExternalAttributes = unchecked((int)(0xA1FFu << 16));
                    using var l = link.Open();
                    l.Write("/etc/passwd"u8);
                }
                return (ms.ToArray(), new(false, "symbolic link", "symbolic link", "symbolic link"));
            }
            case "ratio-bomb":
                return (HostileFiles.Zip(($"{Class}/good.jpg", good), ($"{Class}/bomb.jpg", new byte[50 << 20])), new(false, "zip bomb", "larger than", "zip bomb"));
            case "entry-count-bomb":
                return (HostileFiles.Zip([.. Enumerable.Range(0, HostileInputsFixture.MaxFiles + 500).Select(i => ($"{Class}/e{i}.jpg", Array.Empty<byte>()))]),
                    new(true, null, "entries; the limit is", null));
            case "declared-million-entries":
            {
                var zip = HostileFiles.Zip(($"{Class}/good.jpg", good));
                int eocd = zip.Length - 22;
                BinaryPrimitives.WriteUInt16LittleEndian(zip.AsSpan(eocd + 8), 0xFFFF);
                BinaryPrimitives.WriteUInt16LittleEndian(zip.AsSpan(eocd + 10), 0xFFFF);
                // No zip64 record: the count is 65,535, over the limit of 1,000, refused before any entry is read.
                return (zip, new(true, null, "65,535 entries", null));
            }
            case "nested-zip":
                return (HostileFiles.Zip(($"{Class}/good.jpg", good), ($"{Class}/inner.zip", HostileFiles.Zip(($"{Class}/x.jpg", other)))), new(false, "not an image", "a zip inside a zip is not opened", null));
            case "wrong-crc":
            {
                using var ms = new MemoryStream();
                using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
                {
                    using (var s = zip.CreateEntry($"{Class}/good.jpg", CompressionLevel.NoCompression).Open()) s.Write(good);
                    using (var s = zip.CreateEntry($"{Class}/damaged.png", CompressionLevel.NoCompression).Open()) s.Write(other);
                }
                var bytes = ms.ToArray();
                int at = bytes.AsSpan().IndexOf(other.AsSpan(0, 64)) + other.Length / 2;
                bytes[at] ^= 0x55;
                return (bytes, new(false, "CRC", "CRC", "CRC"));
            }
            case "entry-over-file-limit":
            {
                string path = Path.Combine(fixture.Root.Path, $"{Guid.NewGuid():N}.zip");
                HostileInputs.LargeEntryZip(path, $"{Class}/huge.jpg", 21L << 20, ($"{Class}/good.jpg", good));
                var bytes = File.ReadAllBytes(path);
                File.Delete(path);
                return (bytes, new(false, "the limit is 20,971,520", "larger than", "the limit is 20,971,520"));
            }
            case "colliding-names":
                return (HostileFiles.Zip(($"{Class}/x y.jpg", good), ($"{Class}/x_y.jpg", other)), new(false, null, null, "'EOSINOPHIL/x_y.jpg' and 'EOSINOPHIL/x y.jpg' both become"));
            default:
                throw new ArgumentOutOfRangeException(nameof(@case));
        }
    }

    // ---- the checks

    private void AssertClearReason(string reason, string where)
    {
        Assert.False(string.IsNullOrWhiteSpace(reason), $"{where}: no reason");
        Assert.DoesNotContain(fixture.Root.Path, reason);
        Assert.DoesNotContain(Path.GetTempPath(), reason);
        Assert.DoesNotContain("   at ", reason);
        Assert.DoesNotContain("Exception", reason);
    }

    private void AssertStagingEmpty()
    {
        string staging = Path.Combine(fixture.LocalData, "staging");
        Assert.True(!Directory.Exists(staging) || !Directory.EnumerateFiles(staging, "*", SearchOption.AllDirectories).Any(), "files left in staging");
    }

    private void AssertNothingOutside()
    {
        foreach (var dir in new[] { fixture.Root.Path, fixture.LocalData, Path.Combine(fixture.LocalData, "uploads"), Path.GetTempPath(), "/tmp" })
            Assert.False(File.Exists(Path.Combine(dir, "evil.jpg")), $"evil.jpg written in {dir}");
    }

    private async Task AssertPortalAnswersAsync()
    {
        Assert.False(fixture.Portal.HasExited, fixture.Portal.Log);
        using var client = fixture.Portal.CreateClient(TimeSpan.FromSeconds(30));
        using var response = await client.GetAsync("/api/v1/models", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private void Record(string @case, string path, string outcome)
    {
        lock (fixture.Outcomes) fixture.Outcomes.Add((@case, path, outcome.Length > 300 ? outcome[..300] + "…" : outcome));
    }

    /// <summary>A multipart body that sends its headers and then a byte every 200 ms until cancelled.</summary>
    private sealed class TrickleContent(CancellationToken stop) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes("--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"slow.jpg\"\r\n\r\n"), stop);
            await stream.FlushAsync(stop);
            while (true)
            {
                await Task.Delay(200, stop);
                await stream.WriteAsync(new byte[] { 0xFF }, stop);
                await stream.FlushAsync(stop);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }

        public TrickleContent Init()
        {
            Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=b");
            return this;
        }
    }
}
