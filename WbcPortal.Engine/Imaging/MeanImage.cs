namespace WbcPortal.Engine.Imaging;

/// <summary>A per-pixel BGR mean image in planar layout [3, Height, Width].</summary>
public sealed class MeanImage
{
    private readonly float[] planes;

    public MeanImage(float[] planes, int height, int width)
    {
        if (planes.Length != 3 * height * width) throw new ArgumentException("Mean image size does not match its dimensions.", nameof(planes));
        this.planes = planes;
        Height = height;
        Width = width;
    }

    public int Height { get; }
    public int Width { get; }
    public ReadOnlySpan<float> Planes => planes;

    /// <summary>Channel averages (B, G, R).</summary>
    public (double B, double G, double R) ChannelMeans()
    {
        int n = Height * Width;
        double Avg(int c) { double s = 0; for (int i = 0; i < n; i++) s += planes[c * n + i]; return s / n; }
        return (Avg(0), Avg(1), Avg(2));
    }

    /// <summary>The mean image resized (bilinear, half-pixel centres) to another input size.</summary>
    public MeanImage ResizeTo(int height, int width)
    {
        if (height == Height && width == Width) return this;
        var result = new float[3 * height * width];
        float sy = (float)Height / height, sx = (float)Width / width;
        for (int c = 0; c < 3; c++)
        {
            int src = c * Height * Width, dst = c * height * width;
            for (int y = 0; y < height; y++)
            {
                float fy = Math.Clamp((y + 0.5f) * sy - 0.5f, 0, Height - 1);
                int y0 = (int)fy, y1 = Math.Min(y0 + 1, Height - 1);
                float wy = fy - y0;
                for (int x = 0; x < width; x++)
                {
                    float fx = Math.Clamp((x + 0.5f) * sx - 0.5f, 0, Width - 1);
                    int x0 = (int)fx, x1 = Math.Min(x0 + 1, Width - 1);
                    float wx = fx - x0;
                    float top = planes[src + y0 * Width + x0] * (1 - wx) + planes[src + y0 * Width + x1] * wx;
                    float bottom = planes[src + y1 * Width + x0] * (1 - wx) + planes[src + y1 * Width + x1] * wx;
                    result[dst + y * width + x] = top * (1 - wy) + bottom * wy;
                }
            }
        }
        return new MeanImage(result, height, width);
    }
}
