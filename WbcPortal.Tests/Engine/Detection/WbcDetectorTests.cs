using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Detection;

namespace WbcPortal.Tests.Engine.Detection;

/// <summary>The white-cell detector on smears drawn here: where it finds cells, touching cells, none, the border, single-cell crops, cancellation.</summary>
public sealed class WbcDetectorTests
{
    private static readonly Rgb24 Background = new(228, 218, 222), RedCell = new(205, 125, 135), Nucleus = new(90, 50, 140), Cytoplasm = new(205, 192, 222);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A smear: pinkish background, red discs, and white cells (pale cytoplasm disc around a violet nucleus disc).</summary>
    internal static Image<Rgb24> Smear(int width, int height, (int X, int Y, int Nucleus, int Cell)[] whiteCells, int seed = 3)
    {
        var rng = new Random(seed);
        var reds = Enumerable.Range(0, width * height / 12000).Select(_ => (X: rng.Next(width), Y: rng.Next(height), R: rng.Next(35, 50) * width / 640)).ToArray();
        var image = new Image<Rgb24>(width, height);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    var px = Background;
                    foreach (var (cx, cy, r) in reds) if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r) px = RedCell;
                    foreach (var c in whiteCells) if ((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y) < c.Cell * c.Cell) px = Cytoplasm;
                    foreach (var c in whiteCells) if ((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y) < c.Nucleus * c.Nucleus) px = Nucleus;
                    int noise = rng.Next(-6, 7);
                    row[x] = new Rgb24((byte)Math.Clamp(px.R + noise, 0, 255), (byte)Math.Clamp(px.G + noise, 0, 255), (byte)Math.Clamp(px.B + noise, 0, 255));
                }
            }
        });
        return image;
    }

    private static PixelBox Around(int x, int y, int r) => new(x - r, y - r, x + r, y + r);

    [Fact]
    public void Finds_each_white_cell_where_it_is_with_its_whole_cell_box()
    {
        using var image = Smear(640, 480, [(180, 200, 45, 70), (460, 300, 50, 75)]);
        var result = new WbcDetector().Detect(image, Ct);
        Assert.Equal(2, result.Cells.Count);
        Assert.False(result.SingleCellCrop);
        Assert.Equal(1.0, result.Scale);
        foreach (var (x, y, n, c) in new[] { (180, 200, 45, 70), (460, 300, 50, 75) })
        {
            var cell = Assert.Single(result.Cells, d => Math.Abs(d.CenterX - x) < 5 && Math.Abs(d.CenterY - y) < 5);
            Assert.True(cell.NucleusBox.IoU(Around(x, y, n)) > 0.8, $"nucleus box {cell.NucleusBox}");
            Assert.True(cell.Box.IoU(Around(x, y, c)) >= 0.6, $"cell box {cell.Box}");
            Assert.True(cell.Box.Area > cell.NucleusBox.Area);
            Assert.False(cell.Edge);
            Assert.InRange(cell.Score, 0.5, 1.0);
        }
    }

    [Fact]
    public void Two_touching_cells_give_two_boxes()
    {
        // Two solid nuclei whose discs overlap (a narrow neck), inside one joined cytoplasm.
        using var image = Smear(640, 480, [(250, 240, 70, 95), (380, 240, 70, 95)]);
        var result = new WbcDetector().Detect(image, Ct);
        Assert.Equal(2, result.Cells.Count);
        var left = result.Cells.MinBy(c => c.CenterX)!;
        var right = result.Cells.MaxBy(c => c.CenterX)!;
        Assert.InRange(left.CenterX, 225, 265);
        Assert.InRange(right.CenterX, 365, 405);
        Assert.InRange(left.CenterY, 230, 250);
        Assert.True(left.Box.IoU(Around(250, 240, 95)) >= 0.5, $"{left.Box}");
        Assert.True(right.Box.IoU(Around(380, 240, 95)) >= 0.5, $"{right.Box}");
    }

    [Fact]
    public void A_smear_without_violet_has_no_cells()
    {
        using var image = Smear(640, 480, []);
        var result = new WbcDetector().Detect(image, Ct);
        Assert.Empty(result.Cells);
        Assert.Empty(new BaselineStainDetector().Detect(image, Ct).Cells);
    }

    [Fact]
    public void Platelet_sized_violet_specks_are_not_cells()
    {
        using var image = Smear(640, 480, [(200, 200, 12, 14), (400, 300, 16, 16)]);
        Assert.Empty(new WbcDetector().Detect(image, Ct).Cells);
    }

    [Fact]
    public void A_cell_cut_by_the_border_is_flagged_edge()
    {
        using var image = Smear(640, 480, [(20, 240, 50, 75), (400, 240, 45, 70)]);
        var cells = new WbcDetector().Detect(image, Ct).Cells;
        Assert.Equal(2, cells.Count);
        var cut = cells.MinBy(c => c.CenterX)!;
        Assert.True(cut.Edge);
        Assert.Equal(0, cut.Box.XMin);
        Assert.False(cells.MaxBy(c => c.CenterX)!.Edge);
    }

    [Fact]
    public void A_320x240_image_with_one_cell_is_a_single_cell_crop_at_half_scale()
    {
        using var image = Smear(320, 240, [(165, 115, 24, 36)]);
        var result = new WbcDetector().Detect(image, Ct);
        Assert.True(result.SingleCellCrop);
        Assert.Equal(0.5, result.Scale);
        var cell = Assert.Single(result.Cells);
        Assert.InRange(cell.CenterX, 160, 170);
        Assert.InRange(cell.CenterY, 110, 120);
    }

    [Fact]
    public void The_scale_follows_the_image_size_or_the_option()
    {
        Assert.Equal(1.0, WbcDetector.EstimateScale(640, 480));
        Assert.Equal(0.5, WbcDetector.EstimateScale(320, 240));
        Assert.Equal(2.0, WbcDetector.EstimateScale(1280, 960));
        using var image = Smear(1280, 960, [(500, 400, 90, 140)]);
        var result = new WbcDetector().Detect(image, Ct);
        Assert.Equal(2.0, result.Scale);
        Assert.False(result.SingleCellCrop);
        var cell = Assert.Single(result.Cells);
        Assert.InRange(cell.CenterX, 490, 510);
        Assert.Equal(1.0, new WbcDetector(new DetectorOptions { Scale = 1.0 }).Detect(image, Ct).Scale);
    }

    [Fact]
    public void A_cancelled_token_stops_detection()
    {
        using var image = Smear(640, 480, [(180, 200, 45, 70)]);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new WbcDetector().Detect(image, cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => new BaselineStainDetector().Detect(image, cts.Token));
    }

    [Fact]
    public void One_detector_gives_the_same_answer_on_many_threads()
    {
        using var image = Smear(640, 480, [(180, 200, 45, 70), (460, 300, 50, 75)]);
        var detector = new WbcDetector();
        var expected = detector.Detect(image, Ct).Cells;
        var results = new SmearDetection[8];
        Parallel.For(0, results.Length, i => results[i] = detector.Detect(image, Ct));
        foreach (var r in results) Assert.Equal(expected, r.Cells);
    }

    [Fact]
    public void The_evaluator_matches_one_to_one_by_IoU()
    {
        var truth = new[] { new PixelBox(0, 0, 100, 100), new PixelBox(0, 0, 100, 100), new PixelBox(300, 300, 400, 400) };
        var found = new[] { new PixelBox(5, 5, 100, 100), new PixelBox(200, 0, 260, 60) };
        var match = DetectionEvaluator.Match(truth, found);
        Assert.Equal(new[] { 0, -1 }, match);
        var smears = new[] { new AnnotatedSmear("a", "a.jpg", truth) };
        var score = DetectionEvaluator.Score("x", "set", smears, [found]);
        Assert.Equal((1, 1, 2), (score.TruePositives, score.FalsePositives, score.FalseNegatives));
        Assert.Equal(1 / 3.0, score.Recall, 6);
        Assert.Equal(0.5, score.Precision, 6);
        Assert.Equal(3, score.Errors.Count);
        Assert.Contains(score.Errors, e => e.Kind == "False" && e.Box == found[1]);
        Assert.Equal(2, score.Errors.Count(e => e.Kind == "Miss"));
    }
}
