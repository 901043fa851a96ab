using System.Text.Json;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 10, bounded decoding, through the real executable: PNG text-chunk bombs (~1 MB files that inflate to 1 GiB)
/// beside good images, with the importing process's peak resident set measured, and a FIFO in a class folder.
/// </summary>
public class BoundedDecodingCliTests
{
    /// <summary>
    /// The bound asserted on the import's peak resident set. The executable's own baseline (runtime, EF Core, SQLite;
    /// TorchSharp and ONNX Runtime are not loaded by <c>import</c>) measured ~120 MB here; before the fix the same
    /// folder peaked at 4.3 GB and aborted the whole import out of memory.
    /// </summary>
    private const long PeakBound = 512L << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Text_chunk_bombs_are_refused_each_with_a_reason_and_the_import_stays_small()
    {
        using var folder = new TempDirectory("wbc-bombs");
        using var data = new TempDirectory("wbc-bombs-data");
        for (int i = 0; i < 3; i++)
        {
            ImportFixtures.Write(folder.Path, $"EOSINOPHIL/good_{i}.png", ImportFixtures.Png(100 + i));
            ImportFixtures.Write(folder.Path, $"NEUTROPHIL/good_{i}.jpg", ImportFixtures.Jpeg(200 + i));
        }
        var small = ImportFixtures.Png(300);
        ImportFixtures.Write(folder.Path, "EOSINOPHIL/with_caption.png",
            PngBombs.WithChunks(small, PngBombs.Chunk("tEXt", "Comment\0stained with Wright-Giemsa"u8)));
        var ztxt = PngBombs.ZtxtBomb(ImportFixtures.Png(400));
        var itxt = PngBombs.ItxtBomb(ImportFixtures.Png(500));
        Assert.InRange(ztxt.Length, 900_000, 1_200_000); // ~1 MB on disk, 1 GiB inflated
        ImportFixtures.Write(folder.Path, "EOSINOPHIL/ztxt_bomb.png", ztxt);
        ImportFixtures.Write(folder.Path, "NEUTROPHIL/itxt_bomb.png", itxt);

        var (code, output, errors, peak, elapsed) = await PngBombs.RunMeasuredAsync(TimeSpan.FromSeconds(90),
            "import", folder.Path, "--name", "bombs", "--data-dir", data.Path, "--json");
        TestContext.Current.TestOutputHelper?.WriteLine($"import with two 1 GiB text-chunk bombs: peak RSS {peak / (1024.0 * 1024):N0} MB, {elapsed.TotalSeconds:N1} s, exit {code}");

        Assert.True(code == 0, output + errors);
        using var json = JsonDocument.Parse(output[output.IndexOf('{')..]);
        var root = json.RootElement;
        Assert.Equal(7, root.GetProperty("images").GetInt32()); // six good images and the captioned one (its text dropped when decoded)
        var rejected = root.GetProperty("rejected").EnumerateArray().ToDictionary(r => r.GetProperty("file").GetString()!, r => r.GetProperty("reason").GetString()!);
        Assert.Equal(2, rejected.Count);
        Assert.Equal("PNG text chunk zTXt inflates to more than 1 MB of metadata (a decompression bomb)", rejected["EOSINOPHIL/ztxt_bomb.png"]);
        Assert.Equal("PNG text chunk iTXt inflates to more than 1 MB of metadata (a decompression bomb)", rejected["NEUTROPHIL/itxt_bomb.png"]);
        Assert.True(peak > 0, "the peak resident set was not read");
        Assert.True(peak < PeakBound, $"peak RSS {peak / (1024 * 1024):N0} MB is over the {PeakBound / (1024 * 1024):N0} MB bound");
        Assert.False(Directory.EnumerateFiles(Path.Combine(data.Path, "images"), "*", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > 500_000),
            "a bomb was stored");
    }

    [Fact]
    public async Task A_fifo_in_a_class_folder_is_reported_and_never_blocks_the_import()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        using var folder = new TempDirectory("wbc-fifo-import");
        using var data = new TempDirectory("wbc-fifo-data");
        ImportFixtures.ClassFolders(folder.Path, ["EOSINOPHIL", "LYMPHOCYTE"], 2);
        PngBombs.MakeFifo(Path.Combine(folder.Path, "EOSINOPHIL", "waiting.jpg"));

        var (code, output, errors, _, elapsed) = await PngBombs.RunMeasuredAsync(TimeSpan.FromSeconds(60),
            "import", folder.Path, "--name", "fifo", "--data-dir", data.Path, "--json");
        TestContext.Current.TestOutputHelper?.WriteLine($"import with a FIFO: {elapsed.TotalSeconds:N1} s, exit {code}");

        Assert.True(code == 0, output + errors);
        using var json = JsonDocument.Parse(output[output.IndexOf('{')..]);
        Assert.Equal(4, json.RootElement.GetProperty("images").GetInt32());
        var fifo = Assert.Single(json.RootElement.GetProperty("rejected").EnumerateArray());
        Assert.Equal("EOSINOPHIL/waiting.jpg", fifo.GetProperty("file").GetString());
        Assert.Equal("not a regular file (a FIFO): not read", fifo.GetProperty("reason").GetString());
        Assert.Equal("Unreadable", fifo.GetProperty("code").GetString());
    }
}
