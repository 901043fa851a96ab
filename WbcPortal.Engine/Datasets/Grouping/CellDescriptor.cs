using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace WbcPortal.Engine.Datasets.Grouping;

/// <summary>
/// A handcrafted descriptor of a single-white-cell image that does not change under the augmentations the
/// Kaggle set was made with (rotation, shift, shear, flips, black fill): everything is measured around the
/// centroid of the purple nucleus (removes shifts) in rings (removes rotations and flips), and fill pixels are
/// left out. Blocks: nucleus shape (area, Hu moments), ring profiles of colour, rotation/flip-invariant angular
/// harmonics per ring (|DFT| of the ring's brightness), and global colour statistics.
/// </summary>
public sealed class CellDescriptor
{
    /// <summary>Working resolution: every image is resized to this before anything is measured.</summary>
    public const int Width = 160, Height = 120;

    public const int Rings = 14;
    public const double RingWidth = 4.5;
    public const int Sectors = 32;
    public const int Harmonics = 5;

    /// <summary>Feature layout: [shape | ring profile | ring harmonics | colour].</summary>
    public const int ShapeDims = 12, ProfileDims = Rings * 4, HarmonicDims = Rings * Harmonics, ColourDims = 12;
    public const int Dimensions = ShapeDims + ProfileDims + HarmonicDims + ColourDims;

    private const int MaxRadius = (int)(Rings * RingWidth) + 1;
    private const int Lut = 2 * MaxRadius + 1;

    private readonly short[] ringOf = new short[Lut * Lut];
    private readonly short[] sectorOf = new short[Lut * Lut];

    public CellDescriptor()
    {
        for (int dy = -MaxRadius; dy <= MaxRadius; dy++)
        {
            for (int dx = -MaxRadius; dx <= MaxRadius; dx++)
            {
                int i = (dy + MaxRadius) * Lut + dx + MaxRadius;
                double r = Math.Sqrt(dx * dx + dy * dy);
                int ring = (int)(r / RingWidth);
                ringOf[i] = (short)(ring < Rings ? ring : -1);
                double a = Math.Atan2(dy, dx);
                if (a < 0) a += 2 * Math.PI;
                sectorOf[i] = (short)Math.Min(Sectors - 1, (int)(a / (2 * Math.PI) * Sectors));
            }
        }
    }

    /// <summary>Start and length of each block in the vector.</summary>
    public static IReadOnlyList<(string Name, int Start, int Length)> Blocks { get; } =
    [
        ("shape", 0, ShapeDims),
        ("profile", ShapeDims, ProfileDims),
        ("harmonics", ShapeDims + ProfileDims, HarmonicDims),
        ("colour", ShapeDims + ProfileDims + HarmonicDims, ColourDims),
    ];

    /// <summary>The descriptor of a decoded image (any size; resized to <see cref="Width"/>x<see cref="Height"/>).</summary>
    public float[] Compute(Image<Rgb24> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var pixels = new Rgb24[Width * Height];
        if (image.Width == Width * 2 && image.Height == Height * 2)
        {
            HalveInto(image, pixels);
        }
        else
        {
            using var small = image.Clone(c => c.Resize(new ResizeOptions { Size = new Size(Width, Height), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Box }));
            small.CopyPixelDataTo(pixels);
        }
        if (WhiteBalance > 0) Balance(pixels, WhiteBalance);
        return Compute(pixels);
    }

    /// <summary>Exposure normalisation before measuring: 0 off; 1 each channel scaled so that its 90th percentile over non-fill pixels
    /// becomes 225; 2 one gain for all channels (the mean of those three: brightness only, hue kept).</summary>
    public int WhiteBalance { get; init; }

    private static void Balance(Rgb24[] pixels, int mode)
    {
        var hr = new int[256]; var hg = new int[256]; var hb = new int[256];
        int count = 0;
        foreach (var p in pixels)
        {
            if (p.R + p.G + p.B <= 90) continue;
            hr[p.R]++; hg[p.G]++; hb[p.B]++; count++;
        }
        if (count < 100) return;
        static int Q(int[] h, int target) { int acc = 0; for (int v = 0; v < 256; v++) { acc += h[v]; if (acc > target) return v; } return 255; }
        int t = (int)(0.9 * count);
        double gr = 225.0 / Math.Max(1, Q(hr, t)), gg = 225.0 / Math.Max(1, Q(hg, t)), gb = 225.0 / Math.Max(1, Q(hb, t));
        if (mode == 2) { double g = (gr + gg + gb) / 3; gr = gg = gb = g; }
        for (int i = 0; i < pixels.Length; i++)
        {
            var p = pixels[i];
            if (p.R + p.G + p.B <= 90) continue;
            pixels[i] = new Rgb24((byte)Math.Min(255, p.R * gr + 0.5), (byte)Math.Min(255, p.G * gg + 0.5), (byte)Math.Min(255, p.B * gb + 0.5));
        }
    }

    private static void HalveInto(Image<Rgb24> image, Rgb24[] pixels)
    {
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < Height; y++)
            {
                var a = rows.GetRowSpan(2 * y);
                var b = rows.GetRowSpan(2 * y + 1);
                for (int x = 0; x < Width; x++)
                {
                    var p = a[2 * x]; var q = a[2 * x + 1]; var s = b[2 * x]; var t = b[2 * x + 1];
                    pixels[y * Width + x] = new Rgb24((byte)((p.R + q.R + s.R + t.R + 2) >> 2), (byte)((p.G + q.G + s.G + t.G + 2) >> 2), (byte)((p.B + q.B + s.B + t.B + 2) >> 2));
                }
            }
        });
    }

    /// <summary>The descriptor of <see cref="Width"/>x<see cref="Height"/> RGB pixels.</summary>
    public float[] Compute(ReadOnlySpan<Rgb24> pixels)
    {
        const int n = Width * Height;
        if (pixels.Length != n) throw new ArgumentException($"expected {Width}x{Height} pixels", nameof(pixels));
        var gray = new float[n];
        var valid = new bool[n];
        var raw = new bool[n];
        var nucleus = new bool[n];
        for (int i = 0; i < n; i++)
        {
            var p = pixels[i];
            raw[i] = p.R + p.G + p.B > 90;
            gray[i] = 0.299f * p.R + 0.587f * p.G + 0.114f * p.B;
        }
        // Fill pixels and the blended band next to them are left out: erode the non-fill mask by 2 pixels.
        for (int y = 0; y < Height; y++)
        {
            for (int x = 0; x < Width; x++)
            {
                bool ok = true;
                for (int dy = -2; dy <= 2 && ok; dy++)
                {
                    int yy = y + dy;
                    if (yy < 0 || yy >= Height) continue;
                    for (int dx = -2; dx <= 2; dx++)
                    {
                        int xx = x + dx;
                        if (xx < 0 || xx >= Width) continue;
                        if (!raw[yy * Width + xx]) { ok = false; break; }
                    }
                }
                valid[y * Width + x] = ok;
            }
        }
        for (int i = 0; i < n; i++)
        {
            var p = pixels[i];
            nucleus[i] = valid[i] && gray[i] < 150 && p.B - p.G > 25;
        }

        var (cx, cy) = FindNucleusCentre(nucleus);
        var f = new float[Dimensions];
        NucleusShape(pixels, nucleus, cx, cy, f.AsSpan(0, ShapeDims));
        RingFeatures(pixels, gray, valid, nucleus, cx, cy, f.AsSpan(ShapeDims, ProfileDims), f.AsSpan(ShapeDims + ProfileDims, HarmonicDims));
        Colour(pixels, gray, valid, nucleus, f.AsSpan(ShapeDims + ProfileDims + HarmonicDims, ColourDims));
        return f;
    }

    /// <summary>The densest nucleus spot (box-blurred mask), refined by a few mean-shift steps on nucleus pixels.</summary>
    private static (double X, double Y) FindNucleusCentre(bool[] nucleus)
    {
        const int r = 8;
        var integral = new int[(Width + 1) * (Height + 1)];
        for (int y = 0; y < Height; y++)
        {
            int rowSum = 0;
            for (int x = 0; x < Width; x++)
            {
                rowSum += nucleus[y * Width + x] ? 1 : 0;
                integral[(y + 1) * (Width + 1) + x + 1] = integral[y * (Width + 1) + x + 1] + rowSum;
            }
        }
        int best = -1, bx = Width / 2, by = Height / 2;
        for (int y = 0; y < Height; y++)
        {
            int y0 = Math.Max(0, y - r), y1 = Math.Min(Height, y + r + 1);
            for (int x = 0; x < Width; x++)
            {
                int x0 = Math.Max(0, x - r), x1 = Math.Min(Width, x + r + 1);
                int s = integral[y1 * (Width + 1) + x1] - integral[y0 * (Width + 1) + x1] - integral[y1 * (Width + 1) + x0] + integral[y0 * (Width + 1) + x0];
                if (s > best) { best = s; bx = x; by = y; }
            }
        }
        if (best <= 0) return (Width / 2.0, Height / 2.0);
        double cx = bx, cy = by;
        const double radius = 26;
        for (int it = 0; it < 8; it++)
        {
            double sx = 0, sy = 0; int count = 0;
            int x0 = Math.Max(0, (int)(cx - radius)), x1 = Math.Min(Width - 1, (int)(cx + radius));
            int y0 = Math.Max(0, (int)(cy - radius)), y1 = Math.Min(Height - 1, (int)(cy + radius));
            for (int y = y0; y <= y1; y++)
            {
                for (int x = x0; x <= x1; x++)
                {
                    if (!nucleus[y * Width + x]) continue;
                    double dx = x - cx, dy = y - cy;
                    if (dx * dx + dy * dy > radius * radius) continue;
                    sx += x; sy += y; count++;
                }
            }
            if (count == 0) break;
            double nx = sx / count, ny = sy / count;
            bool done = Math.Abs(nx - cx) < 0.05 && Math.Abs(ny - cy) < 0.05;
            cx = nx; cy = ny;
            if (done) break;
        }
        return (cx, cy);
    }

    private static void NucleusShape(ReadOnlySpan<Rgb24> pixels, bool[] nucleus, double cx, double cy, Span<float> f)
    {
        const double radius = 32;
        double m00 = 0, mx = 0, my = 0, r = 0, g = 0, b = 0;
        int x0 = Math.Max(0, (int)(cx - radius)), x1 = Math.Min(Width - 1, (int)(cx + radius));
        int y0 = Math.Max(0, (int)(cy - radius)), y1 = Math.Min(Height - 1, (int)(cy + radius));
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                int i = y * Width + x;
                if (!nucleus[i]) continue;
                double dx = x - cx, dy = y - cy;
                if (dx * dx + dy * dy > radius * radius) continue;
                m00++; mx += x; my += y;
                r += pixels[i].R; g += pixels[i].G; b += pixels[i].B;
            }
        }
        if (m00 < 3) return;
        mx /= m00; my /= m00;
        double mu20 = 0, mu02 = 0, mu11 = 0, mu30 = 0, mu03 = 0, mu21 = 0, mu12 = 0;
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                int i = y * Width + x;
                if (!nucleus[i]) continue;
                double ddx = x - cx, ddy = y - cy;
                if (ddx * ddx + ddy * ddy > radius * radius) continue;
                double dx = x - mx, dy = y - my;
                mu20 += dx * dx; mu02 += dy * dy; mu11 += dx * dy;
                mu30 += dx * dx * dx; mu03 += dy * dy * dy; mu21 += dx * dx * dy; mu12 += dx * dy * dy;
            }
        }
        double n2 = Math.Pow(m00, 2), n3 = Math.Pow(m00, 2.5);
        double e20 = mu20 / n2, e02 = mu02 / n2, e11 = mu11 / n2;
        double e30 = mu30 / n3, e03 = mu03 / n3, e21 = mu21 / n3, e12 = mu12 / n3;
        double h1 = e20 + e02;
        double h2 = (e20 - e02) * (e20 - e02) + 4 * e11 * e11;
        double h3 = Math.Pow(e30 - 3 * e12, 2) + Math.Pow(3 * e21 - e03, 2);
        double h4 = Math.Pow(e30 + e12, 2) + Math.Pow(e21 + e03, 2);
        double h5 = (e30 - 3 * e12) * (e30 + e12) * (Math.Pow(e30 + e12, 2) - 3 * Math.Pow(e21 + e03, 2))
                  + (3 * e21 - e03) * (e21 + e03) * (3 * Math.Pow(e30 + e12, 2) - Math.Pow(e21 + e03, 2));
        double h6 = (e20 - e02) * (Math.Pow(e30 + e12, 2) - Math.Pow(e21 + e03, 2)) + 4 * e11 * (e30 + e12) * (e21 + e03);
        f[0] = (float)Math.Sqrt(m00);
        f[1] = (float)h1 * 10;
        f[2] = (float)Math.Sqrt(Math.Abs(h2)) * 10;
        f[3] = (float)Math.Pow(Math.Abs(h3), 1.0 / 3) * 10;
        f[4] = (float)Math.Pow(Math.Abs(h4), 1.0 / 3) * 10;
        f[5] = (float)(Math.Sign(h5) * Math.Pow(Math.Abs(h5), 1.0 / 6)) * 10;
        f[6] = (float)(Math.Sign(h6) * Math.Pow(Math.Abs(h6), 1.0 / 4)) * 10;
        // Eccentricity of the nucleus.
        double common = Math.Sqrt(Math.Pow(mu20 - mu02, 2) + 4 * mu11 * mu11);
        double l1 = (mu20 + mu02 + common) / 2, l2 = (mu20 + mu02 - common) / 2;
        f[7] = (float)(l1 > 0 ? Math.Sqrt(Math.Max(0, l2) / l1) : 1);
        f[8] = (float)(r / m00); f[9] = (float)(g / m00); f[10] = (float)(b / m00);
        f[11] = (float)Math.Sqrt((mx - cx) * (mx - cx) + (my - cy) * (my - cy));
    }

    private void RingFeatures(ReadOnlySpan<Rgb24> pixels, float[] gray, bool[] valid, bool[] nucleus, double cx, double cy, Span<float> profile, Span<float> harmonics)
    {
        var sum = new double[Rings * Sectors];
        var count = new int[Rings * Sectors];
        var ringGray = new double[Rings];
        var ringRg = new double[Rings];
        var ringBg = new double[Rings];
        var ringNuc = new double[Rings];
        var ringCount = new int[Rings];
        int icx = (int)Math.Round(cx), icy = (int)Math.Round(cy);
        for (int dy = -MaxRadius; dy <= MaxRadius; dy++)
        {
            int y = icy + dy;
            if (y < 0 || y >= Height) continue;
            for (int dx = -MaxRadius; dx <= MaxRadius; dx++)
            {
                int x = icx + dx;
                if (x < 0 || x >= Width) continue;
                int i = y * Width + x;
                if (!valid[i]) continue;
                int li = (dy + MaxRadius) * Lut + dx + MaxRadius;
                int ring = ringOf[li];
                if (ring < 0) continue;
                int cell = ring * Sectors + sectorOf[li];
                sum[cell] += gray[i];
                count[cell]++;
                var p = pixels[i];
                ringGray[ring] += gray[i];
                ringRg[ring] += p.R - p.G;
                ringBg[ring] += p.B - p.G;
                ringNuc[ring] += nucleus[i] ? 1 : 0;
                ringCount[ring]++;
            }
        }
        var signal = new double[Sectors];
        for (int ring = 0; ring < Rings; ring++)
        {
            int c = ringCount[ring];
            double mean = c > 0 ? ringGray[ring] / c : 0;
            profile[ring * 4] = (float)mean / 10;
            profile[ring * 4 + 1] = c > 0 ? (float)(ringRg[ring] / c) / 5 : 0;
            profile[ring * 4 + 2] = c > 0 ? (float)(ringBg[ring] / c) / 5 : 0;
            profile[ring * 4 + 3] = c > 0 ? (float)(ringNuc[ring] / c) * 20 : 0;
            for (int s = 0; s < Sectors; s++)
            {
                int cell = ring * Sectors + s;
                signal[s] = count[cell] > 0 ? sum[cell] / count[cell] - mean : 0;
            }
            for (int k = 1; k <= Harmonics; k++)
            {
                double re = 0, im = 0;
                for (int s = 0; s < Sectors; s++)
                {
                    double ang = 2 * Math.PI * k * s / Sectors;
                    re += signal[s] * Math.Cos(ang);
                    im += signal[s] * Math.Sin(ang);
                }
                harmonics[ring * Harmonics + k - 1] = (float)(Math.Sqrt(re * re + im * im) / Sectors);
            }
        }
    }

    private static void Colour(ReadOnlySpan<Rgb24> pixels, float[] gray, bool[] valid, bool[] nucleus, Span<float> f)
    {
        var hist = new int[256];
        double br = 0, bg = 0, bb = 0, rr = 0, rg = 0, rb = 0; int nb = 0, nr = 0, total = 0, nuc = 0;
        for (int i = 0; i < pixels.Length; i++)
        {
            if (!valid[i]) continue;
            total++;
            if (nucleus[i]) nuc++;
            var p = pixels[i];
            hist[(int)gray[i]]++;
            if (gray[i] > 200) { br += p.R; bg += p.G; bb += p.B; nb++; }
            else if (!nucleus[i] && p.R - p.G > 25) { rr += p.R; rg += p.G; rb += p.B; nr++; }
        }
        if (total == 0) return;
        f[0] = nb > 0 ? (float)(br / nb) / 5 : 0; f[1] = nb > 0 ? (float)(bg / nb) / 5 : 0; f[2] = nb > 0 ? (float)(bb / nb) / 5 : 0;
        f[3] = nr > 0 ? (float)(rr / nr) / 5 : 0; f[4] = nr > 0 ? (float)(rg / nr) / 5 : 0; f[5] = nr > 0 ? (float)(rb / nr) / 5 : 0;
        f[6] = (float)nb / total * 20; f[7] = (float)nr / total * 20; f[8] = (float)nuc / total * 50;
        double[] qs = [0.1, 0.5, 0.9];
        for (int q = 0; q < qs.Length; q++)
        {
            int target = (int)(qs[q] * total), acc = 0, v = 0;
            for (; v < 255; v++) { acc += hist[v]; if (acc > target) break; }
            f[9 + q] = v / 10f;
        }
    }
}
