using System.Collections.Concurrent;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging.CellCrop;

namespace WbcPortal.Engine.Imaging;

/// <summary>
/// An image's nucleus-centred polar signature, used by the source grouper's same-cell links and by the leak check: the disc around the stained nucleus resampled into a polar image (rings x
/// sectors, two channels: brightness and purple stain, B - G), each channel standardised over the disc (exposure and
/// contrast changes drop out), and stored as the low angular harmonics of every ring. A rotation of the cell is a
/// circular shift of the sectors, a flip reverses them; <see cref="Distance"/> finds the best of both for a pair, so the
/// comparison keeps the phase (where things are around the nucleus), which the source grouper's magnitudes drop.
/// </summary>
public sealed class PolarSignature
{
    public const int Rings = 16;
    public const int Sectors = 64;
    /// <summary>Angular harmonics kept per ring (0..Harmonics).</summary>
    public const int Harmonics = 12;
    /// <summary>Harmonics (0..CoarseHarmonics) whose magnitudes make the rotation- and flip-invariant candidate vector.</summary>
    public const int CoarseHarmonics = 6;
    public const int Channels = 2;
    /// <summary>Radius of the disc as a share of the image's shorter side.</summary>
    public const double DiscRadius = 0.4;
    /// <summary>Rotations tried when aligning two signatures (5 degrees apart), each with and without a flip.</summary>
    public const int Shifts = 72;

    public const int CoarseLength = Channels * Rings * (CoarseHarmonics + 1);
    private const int CoefficientLength = Channels * Rings * (Harmonics + 1);

    private static readonly double[] Cos = Table(Math.Cos, Sectors), Sin = Table(Math.Sin, Sectors);
    private static readonly double[] ShiftCos = Table(Math.Cos, Shifts), ShiftSin = Table(Math.Sin, Shifts);
    private static readonly ConcurrentDictionary<int, (short[] Ring, byte[] Sector, int Radius)> Luts = new();

    /// <summary>Real and imaginary parts of the harmonics, [channel][ring][k].</summary>
    internal float[] Re { get; } = new float[CoefficientLength];
    internal float[] Im { get; } = new float[CoefficientLength];
    /// <summary>Rotation- and flip-invariant: |harmonic| per channel, ring and low k (k = 0 signed).</summary>
    public float[] Coarse { get; } = new float[CoarseLength];
    /// <summary>The energy of the polar image less its ring means (Parseval, over the harmonics kept).</summary>
    internal double Energy { get; private set; }

    /// <summary>Memory one signature holds, for the check's stated bound.</summary>
    public const int Bytes = (2 * CoefficientLength + CoarseLength) * sizeof(float) + 64;

    /// <summary>f(2 pi k s / n) at [k * n + s].</summary>
    private static double[] Table(Func<double, double> f, int n)
    {
        var t = new double[(Harmonics + 1) * n];
        for (int k = 0; k <= Harmonics; k++)
        {
            for (int s = 0; s < n; s++) t[k * n + s] = f(2 * Math.PI * k * s / n);
        }
        return t;
    }

    public static PolarSignature Compute(Image<Rgb24> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (cx, cy) = NucleusCentroid(image);
        int minSide = Math.Min(image.Width, image.Height);
        var (ringOf, sectorOf, radius) = Luts.GetOrAdd(minSide, BuildLut);
        int lut = 2 * radius + 1;
        int icx = (int)MathF.Round(cx), icy = (int)MathF.Round(cy);

        const int bins = Rings * Sectors;
        var sum = new double[Channels * bins];
        var count = new int[bins];
        image.ProcessPixelRows(rows =>
        {
            for (int y = Math.Max(0, icy - radius); y <= Math.Min(rows.Height - 1, icy + radius); y++)
            {
                var row = rows.GetRowSpan(y);
                int ly = (y - icy + radius) * lut;
                for (int x = Math.Max(0, icx - radius); x <= Math.Min(row.Length - 1, icx + radius); x++)
                {
                    int li = ly + x - icx + radius;
                    int ring = ringOf[li];
                    if (ring < 0) continue;
                    var p = row[x];
                    if (p.R + p.G + p.B < 45) continue; // black fill left by a rotation or shift: no data
                    int bin = ring * Sectors + sectorOf[li];
                    sum[bin] += 0.299 * p.R + 0.587 * p.G + 0.114 * p.B;
                    sum[bins + bin] += p.B - p.G;
                    count[bin]++;
                }
            }
        });

        var signature = new PolarSignature();
        var values = new double[bins];
        double energy = 0;
        for (int c = 0; c < Channels; c++)
        {
            double mean = 0, sq = 0;
            int valid = 0;
            for (int b = 0; b < bins; b++)
            {
                if (count[b] == 0) continue;
                double v = sum[c * bins + b] / count[b];
                values[b] = v;
                mean += v;
                sq += v * v;
                valid++;
            }
            if (valid == 0) continue;
            mean /= valid;
            double sd = Math.Sqrt(Math.Max(0, sq / valid - mean * mean));
            double scale = sd > 1e-6 ? 1 / sd : 0;
            // Standardised; a bin with no pixel (outside the image, rotation fill) takes its ring's mean, so that the missing
            // arc adds no angular structure of its own (ring means are left out of the comparison).
            for (int r = 0; r < Rings; r++)
            {
                double ringSum = 0;
                int ringValid = 0;
                for (int b = r * Sectors; b < (r + 1) * Sectors; b++)
                {
                    if (count[b] == 0) continue;
                    ringSum += values[b];
                    ringValid++;
                }
                double ringMean = ringValid > 0 ? ringSum / ringValid : mean;
                for (int b = r * Sectors; b < (r + 1) * Sectors; b++) values[b] = ((count[b] == 0 ? ringMean : values[b]) - mean) * scale;
            }
            for (int r = 0; r < Rings; r++)
            {
                for (int k = 0; k <= Harmonics; k++)
                {
                    double re = 0, im = 0;
                    for (int s = 0; s < Sectors; s++)
                    {
                        double v = values[r * Sectors + s];
                        re += v * Cos[k * Sectors + s];
                        im -= v * Sin[k * Sectors + s];
                    }
                    re /= Sectors;
                    im /= Sectors;
                    int at = (c * Rings + r) * (Harmonics + 1) + k;
                    signature.Re[at] = (float)re;
                    signature.Im[at] = (float)im;
                    if (k > 0) energy += 2 * (re * re + im * im);
                    if (k <= CoarseHarmonics)
                    {
                        signature.Coarse[(c * Rings + r) * (CoarseHarmonics + 1) + k] = (float)(k == 0 ? re : Math.Sqrt(re * re + im * im));
                    }
                }
            }
        }
        signature.Energy = energy;
        return signature;
    }

    /// <summary>
    /// 1 - the best normalised cross-correlation of the two polar images, each ring less its mean, over rotations (and a
    /// flip): 0 for copies of one image, about 1 for unrelated ones. The ring means (the radial profile: dark nucleus, pale
    /// surround) are left out: every centred cell shares them, so they would make any two cells look alike.
    /// </summary>
    public static double Distance(PolarSignature a, PolarSignature b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Energy <= 0 || b.Energy <= 0) return 1;
        // P_k = sum over channels and rings of A_k conj(B_k) (same orientation); Q_k of conj(A_k) conj(B_k) (A flipped).
        Span<double> pr = stackalloc double[Harmonics + 1], pi = stackalloc double[Harmonics + 1];
        Span<double> qr = stackalloc double[Harmonics + 1], qi = stackalloc double[Harmonics + 1];
        for (int cr = 0; cr < Channels * Rings; cr++)
        {
            int o = cr * (Harmonics + 1);
            for (int k = 0; k <= Harmonics; k++)
            {
                double ar = a.Re[o + k], ai = a.Im[o + k], br = b.Re[o + k], bi = b.Im[o + k];
                pr[k] += ar * br + ai * bi;
                pi[k] += ai * br - ar * bi;
                qr[k] += ar * br - ai * bi;
                qi[k] -= ai * br + ar * bi;
            }
        }
        double best = double.NegativeInfinity;
        for (int s = 0; s < Shifts; s++)
        {
            double p = 0, q = 0;
            for (int k = 1; k <= Harmonics; k++)
            {
                double c = ShiftCos[k * Shifts + s], sn = ShiftSin[k * Shifts + s];
                p += 2 * (pr[k] * c - pi[k] * sn);
                q += 2 * (qr[k] * c - qi[k] * sn);
            }
            best = Math.Max(best, Math.Max(p, q));
        }
        return 1 - best / Math.Sqrt(a.Energy * b.Energy);
    }

    /// <summary>
    /// The centroid of the stained nucleus's pixels (rotation-covariant, unlike a box centre): the cell locator's nucleus
    /// box, widened, and within it the pixels dark and blue enough to be stain. The image centre when none is found.
    /// </summary>
    internal static (float X, float Y) NucleusCentroid(Image<Rgb24> image)
    {
        var location = CellLocator.Locate(image);
        if (!location.Found) return (image.Width / 2f, image.Height / 2f);
        var box = location.NucleusBox;
        int margin = Math.Max(2, Math.Min(image.Width, image.Height) / 60);
        int x0 = Math.Max(0, box.X - margin), y0 = Math.Max(0, box.Y - margin);
        int x1 = Math.Min(image.Width - 1, box.Right + margin), y1 = Math.Min(image.Height - 1, box.Bottom + margin);
        double sx = 0, sy = 0, n = 0;
        image.ProcessPixelRows(rows =>
        {
            for (int y = y0; y <= y1; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = x0; x <= x1; x++)
                {
                    var p = row[x];
                    double gray = 0.299 * p.R + 0.587 * p.G + 0.114 * p.B;
                    if (gray < 200 && p.B > p.R + 15 && p.R + p.G + p.B >= 45) { sx += x; sy += y; n++; }
                }
            }
        });
        return n > 0 ? ((float)(sx / n), (float)(sy / n)) : (location.CenterX, location.CenterY);
    }

    private static (short[] Ring, byte[] Sector, int Radius) BuildLut(int minSide)
    {
        double outer = DiscRadius * minSide;
        double width = outer / Rings;
        int radius = (int)Math.Ceiling(outer);
        int lut = 2 * radius + 1;
        var ring = new short[lut * lut];
        var sector = new byte[lut * lut];
        for (int dy = -radius; dy <= radius; dy++)
        {
            for (int dx = -radius; dx <= radius; dx++)
            {
                int i = (dy + radius) * lut + dx + radius;
                int r = (int)(Math.Sqrt(dx * dx + dy * dy) / width);
                ring[i] = (short)(r < Rings ? r : -1);
                double a = Math.Atan2(dy, dx);
                if (a < 0) a += 2 * Math.PI;
                sector[i] = (byte)Math.Min(Sectors - 1, (int)(a / (2 * Math.PI) * Sectors));
            }
        }
        return (ring, sector, radius);
    }
}
