using System.Globalization;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Onnx;

/// <summary>
/// The test vectors of README.md's "The model format": for each committed image (WbcPortal.Tests/TestData/ModelFormat), its
/// file's SHA-256, the located centre, the window's SHA-256 and byte sum (the <c>window</c> tensor of one image; the committed
/// <c>.window.png</c> decodes to it) and the probabilities the fixed test model's graph gives from the window alone. The test
/// recomputes all of them and fails when the README says otherwise, printing the rows it expects.
/// </summary>
/// <remarks>Set WBC_WRITE_MODEL_FORMAT_VECTORS=1 to (re)write the images from the generators below; the test then fails, asking to commit them.</remarks>
[Trait("Category", "Torch")]
public sealed class ModelFormatVectorTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>
{
    private const string Section = "## The model format";
    private const double ProbabilityTolerance = 1e-4;

    /// <summary>The fixed test model's shape: the <c>default</c> preset's window (112 x 112, cell crop 0.6, flips) and a temperature of 1.5.</summary>
    public static ClassifierOnnxMetadata VectorMetadata { get; } = new(ClassifierOnnxExportFixture.Labels, 112, 112, null,
        new CellCropSpec { Enabled = true, Size = 0.6 }, Temperature: 1.5, TestTimeAugmentation: true);

    /// <summary>The images: a half-size field with the cell near a corner (the window is kept inside), a full-size field (shrunk before sampling), a pale nucleus found only at a looser level, and a field without a white cell (the image centre).</summary>
    private static readonly (string Name, Func<Image<Rgb24>> Make)[] Images =
    [
        ("corner-320x240", () => TestImages.Field(320, 240, 1, [(590, 70, 30)], scale: 0.5)),
        ("field-640x480", () => TestImages.Field(640, 480, 2, [(300, 250, 34)])),
        ("pale-200x150", () => Pale(200, 150, (70, 80, 18))),
        ("nocell-160x120", () => TestImages.Field(160, 120, 3, [], scale: 0.25)),
    ];

    [Fact]
    public void The_readme_test_vectors_are_what_the_portal_and_the_graph_compute()
    {
        string data = Path.Combine(RepositoryRoot(), "WbcPortal.Tests", "TestData", "ModelFormat");
        if (Environment.GetEnvironmentVariable("WBC_WRITE_MODEL_FORMAT_VECTORS") == "1") Write(data);

        var bytes = fixture.Exporter.Export(fixture.Model, VectorMetadata);
        using var classifier = new OnnxClassifier(fixture.Sessions.Create(bytes), new BackboneRegistry([fixture.Backbones]));
        using var session = fixture.Sessions.Create(bytes);
        var expected = new List<Row>();
        foreach (var (name, make) in Images)
        {
            string file = Path.Combine(data, name + ".png");
            Assert.True(File.Exists(file), $"{file} is missing; run with WBC_WRITE_MODEL_FORMAT_VECTORS=1 and commit it.");
            using var image = Image.Load<Rgb24>(file);
            using (var generated = make()) Assert.True(SamePixels(image, generated), $"{name}.png is not what its generator draws.");

            var location = CellLocator.Locate(image, VectorMetadata.Crop!.Threshold);
            var window = classifier.WindowBytes(image);
            using (var committed = Image.Load<Rgb24>(Path.Combine(data, name + ".window.png")))
            using (var cut = Image.LoadPixelData<Rgb24>(window, 112, 112))
                Assert.True(SamePixels(committed, cut), $"{name}.window.png is not the window the portal cuts.");

            using var result = session.Run([NamedOnnxValue.CreateFromTensor(WindowGraph.WindowName, new DenseTensor<byte>(window, [1, 112, 112, 3]))]);
            var probs = result.Single(r => r.Name == ClassifierOnnxExporter.ProbsName).AsTensor<float>().ToArray();
            var portal = classifier.Probabilities(classifier.Logits([image])[0]);
            Assert.True(probs.Zip(portal, (a, b) => Math.Abs(a - b)).Max() <= 1e-5, $"{name}: the graph's probs are not the portal's answer.");
            expected.Add(new Row(name + ".png", Sha(File.ReadAllBytes(file)), $"({Number(location.CenterX)}, {Number(location.CenterY)})",
                Sha(window), window.Sum(b => (long)b), probs));
        }

        var readme = ReadmeRows();
        string wanted = string.Join("\n", expected.Select(r => r.Format()));
        Assert.True(readme.Count == expected.Count, $"README's {Section} has {readme.Count} vector rows, not {expected.Count}. Expected rows:\n{wanted}");
        for (int i = 0; i < expected.Count; i++)
        {
            var (e, r) = (expected[i], readme[i]);
            bool same = e.Image == r.Image && e.ImageSha == r.ImageSha && e.Centre == r.Centre && e.WindowSha == r.WindowSha && e.WindowSum == r.WindowSum
                && e.Probabilities.Zip(r.Probabilities, (a, b) => Math.Abs(a - b)).All(d => d <= ProbabilityTolerance) && e.Probabilities.Length == r.Probabilities.Length;
            Assert.True(same, $"README row {i + 1} differs.\nREADME:   {r.Format()}\ncomputed: {e.Format()}\nAll expected rows:\n{wanted}");
        }
    }

    private sealed record Row(string Image, string ImageSha, string Centre, string WindowSha, long WindowSum, float[] Probabilities)
    {
        public string Format() =>
            $"| `{Image}` | `{ImageSha}` | {Centre} | `{WindowSha}` | {WindowSum} | {string.Join(", ", Probabilities.Select(p => p.ToString("0.0000", CultureInfo.InvariantCulture)))} |";

        public static Row? Parse(string line)
        {
            var cells = line.Split('|').Select(c => c.Trim()).ToArray();
            if (cells.Length != 8 || !cells[1].StartsWith('`')) return null;
            return new Row(cells[1].Trim('`'), cells[2].Trim('`'), cells[3], cells[4].Trim('`'), long.Parse(cells[5], CultureInfo.InvariantCulture),
                cells[6].Split(',').Select(p => float.Parse(p.Trim(), CultureInfo.InvariantCulture)).ToArray());
        }
    }

    private static List<Row> ReadmeRows()
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));
        int start = Array.IndexOf(lines, Section);
        Assert.True(start >= 0, $"README.md has no section '{Section}'.");
        var rows = new List<Row>();
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            if (lines[i].StartsWith("| `", StringComparison.Ordinal) && Row.Parse(lines[i]) is { } row) rows.Add(row);
        }
        return rows;
    }

    private static void Write(string data)
    {
        Directory.CreateDirectory(data);
        foreach (var (name, make) in Images)
        {
            using var image = make();
            image.SaveAsPng(Path.Combine(data, name + ".png"));
            var view = new ModelView(VectorMetadata.Crop!, VectorMetadata.InputHeight, VectorMetadata.InputWidth);
            var window = new Rgb24[VectorMetadata.InputHeight * VectorMetadata.InputWidth];
            view.ViewPixels(image, window);
            using var cut = Image.LoadPixelData<Rgb24>(window, VectorMetadata.InputWidth, VectorMetadata.InputHeight);
            cut.SaveAsPng(Path.Combine(data, name + ".window.png"));
        }
        Assert.Fail($"Test vector images written to {data}: commit them and run again without WBC_WRITE_MODEL_FORMAT_VECTORS.");
    }

    /// <summary>A pale field with one pale violet nucleus (grey level about 164: above the threshold 150, under the first looser level 175).</summary>
    private static Image<Rgb24> Pale(int width, int height, (int X, int Y, int R) nucleus)
    {
        var image = new Image<Rgb24>(width, height, new Rgb24(232, 214, 214));
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    int dx = x - nucleus.X, dy = y - nucleus.Y;
                    if (dx * dx + dy * dy < nucleus.R * nucleus.R) row[x] = new Rgb24(165, 155, 210);
                }
            }
        });
        return image;
    }

    private static bool SamePixels(Image<Rgb24> a, Image<Rgb24> b)
    {
        if (a.Width != b.Width || a.Height != b.Height) return false;
        var pa = new Rgb24[a.Width * a.Height];
        var pb = new Rgb24[b.Width * b.Height];
        a.CopyPixelDataTo(pa);
        b.CopyPixelDataTo(pb);
        return pa.AsSpan().SequenceEqual(pb);
    }

    /// <summary>The first 16 hex digits of the SHA-256.</summary>
    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];

    private static string Number(float value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WbcPortal.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("The repository root (WbcPortal.sln) is not above the test's folder.");
    }
}
