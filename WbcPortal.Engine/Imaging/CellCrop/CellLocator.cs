using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Imaging.CellCrop;

/// <summary>Where the stained white cell of an image is: the centre and box of its nucleus, in source pixels.</summary>
/// <param name="Found">False when no stained region was found (the centre is then the image centre).</param>
/// <param name="NucleusFraction">Share of the image the chosen nucleus covers.</param>
public readonly record struct CellLocation(bool Found, float CenterX, float CenterY, Rectangle NucleusBox, double NucleusFraction);

/// <summary>
/// Finds the white cell a labelled image is about. The study's grayscale threshold (150) keeps the darkly
/// stained nuclei; a blue-over-red condition drops the black rotation borders and dark red cells; nearby
/// pieces (the lobes of one neutrophil nucleus) are joined by a small dilation; the largest region wins,
/// ties going to the one nearer the centre. Pale cells are looked for again at looser levels. Works on a grid of about 120 rows whatever the image size.
/// Pure and thread-safe.
/// </summary>
public static class CellLocator
{
    public const int DefaultThreshold = 150;

    // The rule's constants, named so the exported model's metadata (wbc.crop.*) states them from here.
    /// <summary>The sampling grid has about this many cells along the image's shorter side: step = max(1, shorter side / GridRows).</summary>
    public const int GridRows = 120;
    /// <summary>Grids smaller than this either way find nothing.</summary>
    public const int MinGridCells = 4;
    /// <summary>A stained sample is bluer than red by more than this (B &gt; R + BlueOverRed).</summary>
    public const int BlueOverRed = 15;
    /// <summary>Grayscale weights of R, G, B.</summary>
    public const double GrayR = 0.299, GrayG = 0.587, GrayB = 0.114;
    /// <summary>The looser levels tried when nothing is found at the threshold: threshold + 25, then + 50 (each capped at <see cref="MaxThreshold"/>).</summary>
    public const int FirstLooserStep = 25, SecondLooserStep = 50;
    public const int MaxThreshold = 254;
    /// <summary>Dilation radius in grid cells: max(1, grid rows / DilationDivisor).</summary>
    public const int DilationDivisor = 30;
    /// <summary>A region whose stained area is under this share of the grid is a speck, not a nucleus.</summary>
    public const double MinAreaFraction = 0.002;
    /// <summary>Score = area * (1 - CentreWeight * distance of the region's centroid from the image centre, in grid fractions).</summary>
    public const double CentreWeight = 0.5;

    public static CellLocation Locate(Image<Rgb24> image, int threshold = DefaultThreshold)
    {
        // Pale stains (a share of the monocytes) stay above 150: loosen the level twice before giving up.
        foreach (int level in new[] { threshold, threshold + FirstLooserStep, threshold + SecondLooserStep })
        {
            var found = LocateAt(image, Math.Min(level, MaxThreshold));
            if (found.Found) return found;
        }
        return NotFound(image);
    }

    private static CellLocation LocateAt(Image<Rgb24> image, int threshold)
    {
        int step = Math.Max(1, Math.Min(image.Width, image.Height) / GridRows);
        int gw = image.Width / step, gh = image.Height / step;
        if (gw < MinGridCells || gh < MinGridCells) return NotFound(image);

        var mask = new bool[gw * gh];
        image.ProcessPixelRows(rows =>
        {
            for (int gy = 0; gy < gh; gy++)
            {
                var row = rows.GetRowSpan(gy * step + step / 2);
                for (int gx = 0; gx < gw; gx++)
                {
                    var p = row[gx * step + step / 2];
                    double gray = GrayR * p.R + GrayG * p.G + GrayB * p.B;
                    mask[gy * gw + gx] = gray < threshold && p.B > p.R + BlueOverRed;
                }
            }
        });

        // Join lobes: dilate by a radius of ~3 % of the short side, label 8-connected regions of the dilated mask.
        int radius = Math.Max(1, gh / DilationDivisor);
        var dilated = Dilate(mask, gw, gh, radius);
        var labels = new int[gw * gh];
        var stack = new Stack<int>();
        int best = 0;
        double bestScore = 0;
        Rectangle bestBox = default;
        int bestArea = 0;
        int next = 0;
        for (int start = 0; start < labels.Length; start++)
        {
            if (!dilated[start] || labels[start] != 0) continue;
            int id = ++next, area = 0, x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            double sx = 0, sy = 0;
            labels[start] = id;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int i = stack.Pop(), x = i % gw, y = i / gw;
                if (mask[i])
                {
                    area++;
                    sx += x; sy += y;
                    x0 = Math.Min(x0, x); y0 = Math.Min(y0, y); x1 = Math.Max(x1, x); y1 = Math.Max(y1, y);
                }
                for (int dy = -1; dy <= 1; dy++)
                {
                    int ny = y + dy;
                    if (ny < 0 || ny >= gh) continue;
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx;
                        if (nx < 0 || nx >= gw) continue;
                        int n = ny * gw + nx;
                        if (dilated[n] && labels[n] == 0) { labels[n] = id; stack.Push(n); }
                    }
                }
            }
            if (area == 0) continue;
            // Size first; a mild preference for regions near the centre breaks near-ties.
            double cx = sx / area / gw - 0.5, cy = sy / area / gh - 0.5;
            double score = area * (1.0 - CentreWeight * Math.Sqrt(cx * cx + cy * cy));
            if (score > bestScore)
            {
                bestScore = score;
                best = id;
                bestArea = area;
                bestBox = new Rectangle(x0 * step, y0 * step, (x1 - x0 + 1) * step, (y1 - y0 + 1) * step);
            }
        }
        // Regions below 0.2 % of the image are specks (platelets, noise), not a nucleus.
        if (best == 0 || bestArea < MinAreaFraction * gw * gh) return NotFound(image);
        return new CellLocation(true, bestBox.X + bestBox.Width / 2f, bestBox.Y + bestBox.Height / 2f, bestBox, (double)bestArea / (gw * gh));
    }

    private static CellLocation NotFound(Image<Rgb24> image) =>
        new(false, image.Width / 2f, image.Height / 2f, Rectangle.Empty, 0);

    private static bool[] Dilate(bool[] mask, int w, int h, int r)
    {
        // Separable square dilation: rows then columns.
        var rows = new bool[mask.Length];
        for (int y = 0; y < h; y++)
        {
            int last = -r - 1;
            for (int x = 0; x < w; x++)
            {
                if (mask[y * w + x]) last = x;
                if (x - last <= r) rows[y * w + x] = true;
            }
            last = w + r + 1;
            for (int x = w - 1; x >= 0; x--)
            {
                if (mask[y * w + x]) last = x;
                if (last - x <= r) rows[y * w + x] = true;
            }
        }
        var result = new bool[mask.Length];
        for (int x = 0; x < w; x++)
        {
            int last = -r - 1;
            for (int y = 0; y < h; y++)
            {
                if (rows[y * w + x]) last = y;
                if (y - last <= r) result[y * w + x] = true;
            }
            last = h + r + 1;
            for (int y = h - 1; y >= 0; y--)
            {
                if (rows[y * w + x]) last = y;
                if (last - y <= r) result[y * w + x] = true;
            }
        }
        return result;
    }
}
