using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Detection;

/// <summary>
/// Settings of <see cref="WbcDetector"/>. Lengths and areas are in pixels of a BCCD field (640x480 at the BCCD
/// magnification) and are scaled by the image's <see cref="SmearDetection.Scale"/>. The defaults were tuned on the BCCD
/// <c>train.txt</c> smears only.
/// </summary>
public sealed record DetectorOptions
{
    public static DetectorOptions Default { get; } = new();

    /// <summary>Image pixels per BCCD pixel; null estimates it from the image size (<see cref="WbcDetector.EstimateScale"/>).</summary>
    public double? Scale { get; init; }

    /// <summary>Grid cell side in BCCD pixels: the image is averaged onto this grid before anything else.</summary>
    public double GridCell { get; init; } = 2;

    /// <summary>Violet level (2B - R - G of the mean colour) a nucleus cell must reach.</summary>
    public double NucleusLevel { get; init; } = 95;

    /// <summary>Looser violet level nucleus cells may grow into when they touch a nucleus (hysteresis).</summary>
    public double NucleusGrowLevel { get; init; } = 70;

    /// <summary>Pieces of stain within this distance are one nucleus (the lobes of a neutrophil).</summary>
    public double MergeRadius { get; init; } = 12;

    /// <summary>Smallest stained area of a nucleus (platelets and specks are smaller).</summary>
    public double MinNucleusArea { get; init; } = 900;

    /// <summary>Cell box = nucleus box grown on each side by <see cref="PadFraction"/> of its size plus <see cref="PadPixels"/>.</summary>
    public double PadFraction { get; init; } = 0.12;

    /// <summary>See <see cref="PadFraction"/>.</summary>
    public double PadPixels { get; init; } = 12;

    /// <summary>A cell whose box comes this close to the image border is flagged <see cref="DetectedCell.Edge"/>.</summary>
    public double EdgeMargin { get; init; } = 3;

    /// <summary>Images whose longer side is at most this many pixels are single-cell crops (the Kaggle images are 320x240).</summary>
    public int SingleCellMaxSide { get; init; } = 400;

    /// <summary>An image with one cell whose box covers at least this share of it is a single-cell crop too.</summary>
    public double SingleCellMinCover { get; init; } = 0.3;
}

/// <summary>
/// Finds white cells on a stained smear from the image alone: the violet nuclei (2B - R - G high) on a grid of about
/// 2 BCCD pixels, joined lobes, a minimum nucleus area, touching cells split, and the whole-cell box grown from the
/// nucleus box. Pure C#, pure and thread-safe (no state is written after construction).
/// </summary>
public sealed class WbcDetector(DetectorOptions? options = null) : IWbcDetector
{
    public DetectorOptions Options { get; } = options ?? DetectorOptions.Default;

    /// <summary>Image pixels per BCCD pixel from the image size alone: the longer side over 640, clamped to [0.25, 8].</summary>
    public static double EstimateScale(int width, int height) => Math.Clamp(Math.Max(width, height) / 640.0, 0.25, 8.0);

    /// <summary>True when <paramref name="box"/> comes within 3 BCCD pixels (scaled) of the image border.</summary>
    public static bool IsEdge(PixelBox box, int width, int height, double scale, double margin = 3)
    {
        int m = Math.Max(1, (int)Math.Round(margin * scale));
        return box.XMin <= m || box.YMin <= m || box.XMax >= width - m || box.YMax >= height - m;
    }

    /// <summary>The single-cell-crop rule: a small image (longer side at most 400 px, as the 320x240 Kaggle images),
    /// or one cell whose box covers at least 30 % of the image.</summary>
    public static bool LooksLikeSingleCellCrop(int width, int height, IReadOnlyList<DetectedCell> cells, double scale) =>
        LooksLikeSingleCellCrop(width, height, cells, DetectorOptions.Default);

    private static bool LooksLikeSingleCellCrop(int width, int height, IReadOnlyList<DetectedCell> cells, DetectorOptions o) =>
        Math.Max(width, height) <= o.SingleCellMaxSide || (cells.Count == 1 && cells[0].Box.Area >= o.SingleCellMinCover * width * height);

    public SmearDetection Detect(Image<Rgb24> image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        cancellationToken.ThrowIfCancellationRequested();
        var o = Options;
        double scale = o.Scale is > 0 ? o.Scale.Value : EstimateScale(image.Width, image.Height);
        int step = Math.Max(1, (int)Math.Round(o.GridCell * scale));
        var grid = StainGrid.From(image, step, cancellationToken);
        int w = grid.Width, h = grid.Height;
        double cell = step / scale; // BCCD pixels per grid cell

        var violet = new float[w * h];
        var core = new bool[w * h];
        var loose = new bool[w * h];
        for (int i = 0; i < violet.Length; i++)
        {
            float v = 2 * grid.B[i] - grid.R[i] - grid.G[i];
            violet[i] = v;
            core[i] = v >= o.NucleusLevel;
            loose[i] = v >= o.NucleusGrowLevel;
        }
        cancellationToken.ThrowIfCancellationRequested();
        core = Morphology.Open(core, w, h, 1);
        // Hysteresis: loose cells 8-connected to a core cell.
        var nucleus = Grow(core, loose, w, h);
        cancellationToken.ThrowIfCancellationRequested();
        var joined = Morphology.Dilate(nucleus, w, h, o.MergeRadius / cell);
        var regions = Morphology.Label(joined, w, h, out var labels);
        double minCells = o.MinNucleusArea / (cell * cell);

        var cells = new List<DetectedCell>();
        foreach (var region in regions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int area = 0, x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            double sum = 0;
            for (int y = region.Y0; y <= region.Y1; y++)
                for (int x = region.X0; x <= region.X1; x++)
                {
                    int i = y * w + x;
                    if (labels[i] != region.Label || !nucleus[i]) continue;
                    area++; sum += violet[i];
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
            if (area < minCells) continue;
            var nbox = grid.ToPixels(x0, y0, x1, y1);
            double padX = nbox.Width * o.PadFraction + o.PadPixels * scale, padY = nbox.Height * o.PadFraction + o.PadPixels * scale;
            var box = new PixelBox(
                Math.Max(0, (int)Math.Round(nbox.XMin - padX)), Math.Max(0, (int)Math.Round(nbox.YMin - padY)),
                Math.Min(image.Width, (int)Math.Round(nbox.XMax + padX)), Math.Min(image.Height, (int)Math.Round(nbox.YMax + padY)));
            double score = Math.Clamp(0.5 + 0.5 * Math.Min(1, area / (3 * minCells)) * Math.Min(1, sum / area / 150), 0, 1);
            cells.Add(new DetectedCell(box, nbox, (nbox.XMin + nbox.XMax) / 2.0, (nbox.YMin + nbox.YMax) / 2.0,
                IsEdge(box, image.Width, image.Height, scale, o.EdgeMargin), score));
        }
        cells.Sort((a, b) => a.CenterY != b.CenterY ? a.CenterY.CompareTo(b.CenterY) : a.CenterX.CompareTo(b.CenterX));
        return new SmearDetection(image.Width, image.Height, cells, LooksLikeSingleCellCrop(image.Width, image.Height, cells, o), scale);
    }

    /// <summary>Cells of <paramref name="loose"/> 8-connected (through loose cells) to a cell of <paramref name="seeds"/>.</summary>
    private static bool[] Grow(bool[] seeds, bool[] loose, int w, int h)
    {
        var result = new bool[seeds.Length];
        var stack = new int[seeds.Length];
        int top = 0;
        for (int i = 0; i < seeds.Length; i++)
            if (seeds[i]) { result[i] = true; stack[top++] = i; }
        while (top > 0)
        {
            int i = stack[--top], x = i % w, y = i / w;
            for (int dy = -1; dy <= 1; dy++)
            {
                int ny = y + dy;
                if ((uint)ny >= (uint)h) continue;
                for (int dx = -1; dx <= 1; dx++)
                {
                    int nx = x + dx;
                    if ((uint)nx >= (uint)w) continue;
                    int n = ny * w + nx;
                    if (loose[n] && !result[n]) { result[n] = true; stack[top++] = n; }
                }
            }
        }
        return result;
    }
}
