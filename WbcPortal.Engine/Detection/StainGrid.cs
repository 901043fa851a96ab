using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Detection;

/// <summary>
/// An image averaged onto a coarse grid: each cell holds the mean R, G, B of a <see cref="Step"/> x <see cref="Step"/> block
/// (the blocks of the last row and column may be cut short by the border). The detectors work on it for speed.
/// </summary>
internal sealed class StainGrid
{
    public int Width { get; }
    public int Height { get; }
    public int Step { get; }
    public int ImageWidth { get; }
    public int ImageHeight { get; }
    public float[] R { get; }
    public float[] G { get; }
    public float[] B { get; }

    private StainGrid(int w, int h, int step, int imageWidth, int imageHeight)
    {
        Width = w; Height = h; Step = step; ImageWidth = imageWidth; ImageHeight = imageHeight;
        R = new float[w * h]; G = new float[w * h]; B = new float[w * h];
    }

    public static StainGrid From(Image<Rgb24> image, int step, CancellationToken cancellationToken)
    {
        step = Math.Max(1, step);
        int w = (image.Width + step - 1) / step, h = (image.Height + step - 1) / step;
        var grid = new StainGrid(w, h, step, image.Width, image.Height);
        var sr = new int[w];
        var sg = new int[w];
        var sb = new int[w];
        image.ProcessPixelRows(rows =>
        {
            for (int gy = 0; gy < h; gy++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Array.Clear(sr); Array.Clear(sg); Array.Clear(sb);
                int y0 = gy * step, y1 = Math.Min(rows.Height, y0 + step);
                for (int y = y0; y < y1; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < row.Length; x++)
                    {
                        var p = row[x];
                        int gx = x / step;
                        sr[gx] += p.R; sg[gx] += p.G; sb[gx] += p.B;
                    }
                }
                for (int gx = 0; gx < w; gx++)
                {
                    int x0 = gx * step, x1 = Math.Min(image.Width, x0 + step);
                    float n = (x1 - x0) * (y1 - y0);
                    int i = gy * w + gx;
                    grid.R[i] = sr[gx] / n; grid.G[i] = sg[gx] / n; grid.B[i] = sb[gx] / n;
                }
            }
        });
        return grid;
    }

    /// <summary>A grid box (inclusive cell indices) in image pixels, clamped to the image.</summary>
    public PixelBox ToPixels(int x0, int y0, int x1, int y1) =>
        new(Math.Clamp(x0 * Step, 0, ImageWidth), Math.Clamp(y0 * Step, 0, ImageHeight),
            Math.Clamp((x1 + 1) * Step, 0, ImageWidth), Math.Clamp((y1 + 1) * Step, 0, ImageHeight));
}

/// <summary>One 8-connected region of a mask, in grid cells: its area, bounding box (inclusive) and centroid.</summary>
internal readonly record struct Region(int Label, int Area, int X0, int Y0, int X1, int Y1, double Cx, double Cy)
{
    public int Width => X1 - X0 + 1;
    public int Height => Y1 - Y0 + 1;
}

/// <summary>Binary morphology, exact Euclidean distance transforms and connected components on row-major masks.</summary>
internal static class Morphology
{
    private const float Inf = 1e20f;

    /// <summary>Squared Euclidean distance of every cell to the nearest cell where <paramref name="mask"/> equals <paramref name="target"/>
    /// (Felzenszwalb-Huttenlocher, exact, linear time). Cells outside the grid count as not-target.</summary>
    public static float[] SquaredDistanceTo(bool[] mask, int w, int h, bool target)
    {
        var d = new float[w * h];
        for (int i = 0; i < d.Length; i++) d[i] = mask[i] == target ? 0 : Inf;
        int n = Math.Max(w, h);
        var f = new float[n];
        var outBuf = new float[n];
        var v = new int[n];
        var z = new float[n + 1];
        for (int x = 0; x < w; x++)
        {
            for (int y = 0; y < h; y++) f[y] = d[y * w + x];
            Transform1D(f, h, outBuf, v, z);
            for (int y = 0; y < h; y++) d[y * w + x] = outBuf[y];
        }
        for (int y = 0; y < h; y++)
        {
            Array.Copy(d, y * w, f, 0, w);
            Transform1D(f, w, outBuf, v, z);
            Array.Copy(outBuf, 0, d, y * w, w);
        }
        return d;
    }

    private static void Transform1D(float[] f, int n, float[] d, int[] v, float[] z)
    {
        // Lower envelope of the parabolas of the seeded cells only (unseeded cells add none).
        int k = -1;
        for (int q = 0; q < n; q++)
        {
            if (f[q] >= Inf) continue;
            if (k < 0) { k = 0; v[0] = q; z[0] = -Inf; z[1] = Inf; continue; }
            float s;
            while (true)
            {
                int p = v[k];
                s = ((f[q] + (float)q * q) - (f[p] + (float)p * p)) / (2f * (q - p));
                if (s <= z[k]) { k--; continue; }
                break;
            }
            k++;
            v[k] = q; z[k] = s; z[k + 1] = Inf;
        }
        if (k < 0)
        {
            Array.Fill(d, Inf, 0, n);
            return;
        }
        k = 0;
        for (int q = 0; q < n; q++)
        {
            while (z[k + 1] < q) k++;
            int p = v[k];
            d[q] = (q - p) * (float)(q - p) + f[p];
        }
    }

    /// <summary>Dilation by a disc of radius <paramref name="radius"/> cells.</summary>
    public static bool[] Dilate(bool[] mask, int w, int h, double radius)
    {
        if (radius <= 0) return (bool[])mask.Clone();
        var d = SquaredDistanceTo(mask, w, h, true);
        float r2 = (float)(radius * radius);
        var result = new bool[mask.Length];
        for (int i = 0; i < d.Length; i++) result[i] = d[i] <= r2;
        return result;
    }

    /// <summary>Erosion by a disc of radius <paramref name="radius"/> cells (outside the grid counts as background).</summary>
    public static bool[] Erode(bool[] mask, int w, int h, double radius)
    {
        if (radius <= 0) return (bool[])mask.Clone();
        var d = SquaredDistanceTo(mask, w, h, false);
        float r2 = (float)(radius * radius);
        var result = new bool[mask.Length];
        for (int i = 0; i < d.Length; i++) result[i] = mask[i] && d[i] > r2;
        return result;
    }

    public static bool[] Open(bool[] mask, int w, int h, double radius) => Dilate(Erode(mask, w, h, radius), w, h, radius);

    public static bool[] Close(bool[] mask, int w, int h, double radius) => ErodeInside(Dilate(mask, w, h, radius), w, h, radius);

    /// <summary>Erosion where outside the grid counts as foreground (so closing does not eat cells cut by the border).</summary>
    private static bool[] ErodeInside(bool[] mask, int w, int h, double radius)
    {
        if (radius <= 0) return (bool[])mask.Clone();
        // Pad by the radius with foreground, erode, crop.
        int pad = (int)Math.Ceiling(radius) + 1, pw = w + 2 * pad, ph = h + 2 * pad;
        var padded = new bool[pw * ph];
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++)
            {
                int ix = x - pad, iy = y - pad;
                padded[y * pw + x] = ix < 0 || iy < 0 || ix >= w || iy >= h || mask[iy * w + ix];
            }
        var eroded = Erode(padded, pw, ph, radius);
        var result = new bool[mask.Length];
        for (int y = 0; y < h; y++) Array.Copy(eroded, (y + pad) * pw + pad, result, y * w, w);
        return result;
    }

    /// <summary>8-connected components of <paramref name="mask"/>; <paramref name="labels"/> gets 1-based labels (0 = background).</summary>
    public static List<Region> Label(bool[] mask, int w, int h, out int[] labels)
    {
        labels = new int[w * h];
        var regions = new List<Region>();
        var stack = new int[w * h];
        int next = 0;
        for (int start = 0; start < mask.Length; start++)
        {
            if (!mask[start] || labels[start] != 0) continue;
            int id = ++next, area = 0, x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1, top = 0;
            double sx = 0, sy = 0;
            labels[start] = id;
            stack[top++] = start;
            while (top > 0)
            {
                int i = stack[--top], x = i % w, y = i / w;
                area++; sx += x; sy += y;
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
                for (int dy = -1; dy <= 1; dy++)
                {
                    int ny = y + dy;
                    if ((uint)ny >= (uint)h) continue;
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx;
                        if ((uint)nx >= (uint)w) continue;
                        int n = ny * w + nx;
                        if (mask[n] && labels[n] == 0) { labels[n] = id; stack[top++] = n; }
                    }
                }
            }
            regions.Add(new Region(id, area, x0, y0, x1, y1, sx / area, sy / area));
        }
        return regions;
    }
}
