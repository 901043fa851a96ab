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

    /// <summary>Smallest nucleus box, as the square root of its area (platelets and their clumps come out at 35-55, the
    /// smallest white-cell nuclei of the train smears at 80).</summary>
    public double MinNucleusSide { get; init; } = 66;

    /// <summary>A nucleus whose inscribed disc has at least this radius is "solid" (a lymphocyte's or monocyte's, not a
    /// neutrophil lobe): two of them joined by a narrow neck are two touching cells and are split.</summary>
    public double SplitMinRadius { get; init; } = 24;

    /// <summary>Only a nucleus region at least this long (its box's longer side) is looked at for splitting: the largest
    /// single nucleus box of the train smears is 244 px long, and neutrophil lobes look like touching nuclei.</summary>
    public double SplitMinLength { get; init; } = 250;

    /// <summary>Two solid nuclei are split when the neck between their centres is thinner than this share of the smaller radius.</summary>
    public double SplitNeck { get; init; } = 0.7;

    /// <summary>Cell box = nucleus box grown on each side by <see cref="PadFraction"/> of its size plus <see cref="PadPixels"/>.</summary>
    public double PadFraction { get; init; } = 0.06;

    /// <summary>See <see cref="PadFraction"/>.</summary>
    public double PadPixels { get; init; } = 8;

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

        double minSide = o.MinNucleusSide / cell;
        var cells = new List<DetectedCell>();
        foreach (var region in regions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var part in SplitTouching(region, labels, nucleus, w, o.SplitMinRadius / cell, o.SplitNeck, o.SplitMinLength / cell))
            {
                int area = 0, x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
                double sum = 0;
                foreach (int i in part)
                {
                    int x = i % w, y = i / w;
                    area++; sum += violet[i];
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
                if (area < minCells || Math.Sqrt((x1 - x0 + 1.0) * (y1 - y0 + 1.0)) < minSide) continue;
                var nbox = grid.ToPixels(x0, y0, x1, y1);
                double padX = nbox.Width * o.PadFraction + o.PadPixels * scale, padY = nbox.Height * o.PadFraction + o.PadPixels * scale;
                var box = new PixelBox(
                    Math.Max(0, (int)Math.Round(nbox.XMin - padX)), Math.Max(0, (int)Math.Round(nbox.YMin - padY)),
                    Math.Min(image.Width, (int)Math.Round(nbox.XMax + padX)), Math.Min(image.Height, (int)Math.Round(nbox.YMax + padY)));
                double side = Math.Sqrt((x1 - x0 + 1.0) * (y1 - y0 + 1.0));
                double score = Math.Clamp(0.5 + 0.5 * Math.Min(1, (side - minSide) / minSide + 0.2) * Math.Min(1, sum / area / 150), 0, 1);
                cells.Add(new DetectedCell(box, nbox, (nbox.XMin + nbox.XMax) / 2.0, (nbox.YMin + nbox.YMax) / 2.0,
                    IsEdge(box, image.Width, image.Height, scale, o.EdgeMargin), score));
            }
        }
        cells.Sort((a, b) => a.CenterY != b.CenterY ? a.CenterY.CompareTo(b.CenterY) : a.CenterX.CompareTo(b.CenterX));
        return new SmearDetection(image.Width, image.Height, cells, LooksLikeSingleCellCrop(image.Width, image.Height, cells, o), scale);
    }

    /// <summary>
    /// The nucleus cells of one joined region, split into touching cells: the widest inscribed discs of radius at least
    /// <paramref name="minRadius"/> are found greedily (each suppresses its own disc); two discs whose straight path
    /// passes a neck thinner than <paramref name="neck"/> times the smaller radius belong to two cells, and every nucleus
    /// cell goes to the disc nearest relative to its radius. One part when nothing needs splitting.
    /// </summary>
    private static List<List<int>> SplitTouching(Region region, int[] labels, bool[] nucleus, int w, double minRadius, double neck, double minLength)
    {
        int rw = region.Width, rh = region.Height;
        var local = new bool[rw * rh];
        var members = new List<int>();
        for (int y = region.Y0; y <= region.Y1; y++)
            for (int x = region.X0; x <= region.X1; x++)
            {
                int i = y * w + x;
                if (labels[i] != region.Label || !nucleus[i]) continue;
                local[(y - region.Y0) * rw + (x - region.X0)] = true;
                members.Add(i);
            }
        var single = new List<List<int>> { members };
        int nx0 = int.MaxValue, nx1 = -1, ny0 = int.MaxValue, ny1 = -1;
        foreach (int i in members)
        {
            int x = i % w, y = i / w;
            nx0 = Math.Min(nx0, x); nx1 = Math.Max(nx1, x); ny0 = Math.Min(ny0, y); ny1 = Math.Max(ny1, y);
        }
        if (Math.Max(nx1 - nx0 + 1, ny1 - ny0 + 1) < minLength) return single;
        // Holes and specks inside a nucleus must not make necks: close a little first.
        var solid = FillHoles(Morphology.Close(local, rw, rh, 3), rw, rh);
        var d2 = Morphology.SquaredDistanceTo(solid, rw, rh, false);
        float min2 = (float)(minRadius * minRadius);
        var candidates = new List<int>();
        for (int i = 0; i < d2.Length; i++) if (solid[i] && d2[i] >= min2) candidates.Add(i);
        if (candidates.Count == 0) return single;
        candidates.Sort((a, b) => d2[b].CompareTo(d2[a]));
        var peaks = new List<(double X, double Y, double R)>();
        foreach (int c in candidates)
        {
            double cx = c % rw, cy = c / rw, r = Math.Sqrt(d2[c]);
            bool covered = false;
            foreach (var p in peaks)
                if ((cx - p.X) * (cx - p.X) + (cy - p.Y) * (cy - p.Y) < p.R * p.R) { covered = true; break; }
            if (!covered) peaks.Add((cx, cy, r));
            if (peaks.Count >= 6) break;
        }
        if (peaks.Count < 2) return single;
        // The neck between two peaks is the saddle of the distance map: the highest level at which they are still
        // connected through the nucleus (found by adding cells from the deepest down, union-find).
        var saddle = SaddleLevels(solid, d2, rw, rh, peaks.Select(p => (int)p.Y * rw + (int)p.X).ToArray());
        var kept = new List<(double X, double Y, double R)> { peaks[0] };
        var keptIndex = new List<int> { 0 };
        for (int k = 1; k < peaks.Count; k++)
        {
            bool separate = true;
            foreach (int q in keptIndex)
                // Pieces that do not touch at all are lobes of one nucleus (joined by the merge radius), not two cells.
                if (saddle[k, q] < 1 || saddle[k, q] >= neck * Math.Min(peaks[k].R, peaks[q].R)) { separate = false; break; }
            if (separate) { kept.Add(peaks[k]); keptIndex.Add(k); }
        }
        if (kept.Count < 2) return single;
        var parts = kept.Select(_ => new List<int>()).ToList();
        foreach (int i in members)
        {
            double x = i % w - region.X0, y = i / w - region.Y0;
            int best = 0;
            double bestD = double.MaxValue;
            for (int k = 0; k < kept.Count; k++)
            {
                double dd = Math.Sqrt((x - kept[k].X) * (x - kept[k].X) + (y - kept[k].Y) * (y - kept[k].Y)) / kept[k].R;
                if (dd < bestD) { bestD = dd; best = k; }
            }
            parts[best].Add(i);
        }
        return parts;
    }

    /// <summary>For each pair of seed cells, the highest distance level at which they are connected through the mask (0 when never).</summary>
    private static double[,] SaddleLevels(bool[] mask, float[] d2, int w, int h, int[] seeds)
    {
        var result = new double[seeds.Length, seeds.Length];
        var order = new List<int>();
        for (int i = 0; i < mask.Length; i++) if (mask[i]) order.Add(i);
        order.Sort((a, b) => d2[b].CompareTo(d2[a]));
        var parent = new int[mask.Length];
        Array.Fill(parent, -1);
        var seedsOf = new Dictionary<int, List<int>>();
        var seedAt = new Dictionary<int, int>();
        for (int k = 0; k < seeds.Length; k++) seedAt.TryAdd(seeds[k], k);
        int Find(int i) { while (parent[i] != i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; }
        foreach (int i in order)
        {
            parent[i] = i;
            if (seedAt.TryGetValue(i, out int sk)) seedsOf[i] = [sk];
            int x = i % w, y = i / w;
            double level = Math.Sqrt(d2[i]);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                {
                    int nx = x + dx, ny = y + dy;
                    if ((uint)nx >= (uint)w || (uint)ny >= (uint)h) continue;
                    int n = ny * w + nx;
                    if (parent[n] < 0) continue;
                    int ra = Find(i), rb = Find(n);
                    if (ra == rb) continue;
                    seedsOf.TryGetValue(ra, out var la);
                    seedsOf.TryGetValue(rb, out var lb);
                    if (la is not null && lb is not null)
                        foreach (int p in la) foreach (int q in lb) { result[p, q] = level; result[q, p] = level; }
                    parent[rb] = ra;
                    if (lb is not null)
                    {
                        if (la is null) seedsOf[ra] = lb; else la.AddRange(lb);
                        seedsOf.Remove(rb);
                    }
                }
        }
        return result;
    }

    /// <summary>The mask with every background pocket not connected to the border filled.</summary>
    private static bool[] FillHoles(bool[] mask, int w, int h)
    {
        var outside = new bool[mask.Length];
        var stack = new int[mask.Length];
        int top = 0;
        void Seed(int i) { if (!mask[i] && !outside[i]) { outside[i] = true; stack[top++] = i; } }
        for (int x = 0; x < w; x++) { Seed(x); Seed((h - 1) * w + x); }
        for (int y = 0; y < h; y++) { Seed(y * w); Seed(y * w + w - 1); }
        while (top > 0)
        {
            int i = stack[--top], x = i % w, y = i / w;
            if (x > 0) Seed(i - 1);
            if (x < w - 1) Seed(i + 1);
            if (y > 0) Seed(i - w);
            if (y < h - 1) Seed(i + w);
        }
        var filled = new bool[mask.Length];
        for (int i = 0; i < mask.Length; i++) filled[i] = !outside[i];
        return filled;
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
