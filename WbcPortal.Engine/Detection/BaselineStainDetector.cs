using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Detection;

/// <summary>
/// The plain stain rule the new detector is compared with: grey &lt; 150 and blue above red, an opening, a dilation that
/// joins the lobes of one nucleus, a minimum area, and the nucleus box padded by 18 % on each side as the cell box.
/// No splitting of touching cells, no look at the cytoplasm. Kept so that the comparison is reproducible. Pure and thread-safe.
/// </summary>
public sealed class BaselineStainDetector : IWbcDetector
{
    /// <summary>Grey level under which a pixel counts as stained.</summary>
    public int GreyThreshold { get; init; } = 150;

    /// <summary>Share of the nucleus box's width/height added on each side to make the cell box.</summary>
    public double Padding { get; init; } = 0.18;

    /// <summary>Smallest nucleus, in square pixels of a BCCD field (scaled by the image's scale squared).</summary>
    public double MinNucleusArea { get; init; } = 600;

    public SmearDetection Detect(Image<Rgb24> image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        double scale = WbcDetector.EstimateScale(image.Width, image.Height);
        int step = Math.Max(1, (int)Math.Round(2 * scale));
        var grid = StainGrid.From(image, step, cancellationToken);
        int w = grid.Width, h = grid.Height;
        var mask = new bool[w * h];
        for (int i = 0; i < mask.Length; i++)
        {
            float grey = 0.299f * grid.R[i] + 0.587f * grid.G[i] + 0.114f * grid.B[i];
            mask[i] = grey < GreyThreshold && grid.B[i] > grid.R[i];
        }
        double bccdPerCell = step / scale;
        mask = Morphology.Open(mask, w, h, 1);
        var joined = Morphology.Dilate(mask, w, h, 8 / bccdPerCell);
        var regions = Morphology.Label(joined, w, h, out var labels);
        double minCells = MinNucleusArea / (bccdPerCell * bccdPerCell);
        var cells = new List<DetectedCell>();
        foreach (var region in regions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int area = 0, x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            for (int y = region.Y0; y <= region.Y1; y++)
                for (int x = region.X0; x <= region.X1; x++)
                {
                    int i = y * w + x;
                    if (labels[i] != region.Label || !mask[i]) continue;
                    area++;
                    x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                }
            if (area < minCells) continue;
            var nucleus = grid.ToPixels(x0, y0, x1, y1);
            int px = (int)Math.Round(nucleus.Width * Padding), py = (int)Math.Round(nucleus.Height * Padding);
            var box = new PixelBox(Math.Max(0, nucleus.XMin - px), Math.Max(0, nucleus.YMin - py), Math.Min(image.Width, nucleus.XMax + px), Math.Min(image.Height, nucleus.YMax + py));
            bool edge = WbcDetector.IsEdge(box, image.Width, image.Height, scale);
            cells.Add(new DetectedCell(box, nucleus, (nucleus.XMin + nucleus.XMax) / 2.0, (nucleus.YMin + nucleus.YMax) / 2.0, edge, 1.0));
        }
        return new SmearDetection(image.Width, image.Height, cells, WbcDetector.LooksLikeSingleCellCrop(image.Width, image.Height, cells, scale), scale);
    }
}
