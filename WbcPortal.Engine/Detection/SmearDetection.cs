using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Detection;

/// <summary>A box in the image's own pixels: <c>[XMin, XMax) x [YMin, YMax)</c>.</summary>
public readonly record struct PixelBox(int XMin, int YMin, int XMax, int YMax)
{
    public int Width => XMax - XMin;
    public int Height => YMax - YMin;
    public double Area => Math.Max(0, Width) * (double)Math.Max(0, Height);

    public double IoU(PixelBox other)
    {
        int x0 = Math.Max(XMin, other.XMin), y0 = Math.Max(YMin, other.YMin), x1 = Math.Min(XMax, other.XMax), y1 = Math.Min(YMax, other.YMax);
        double inter = Math.Max(0, x1 - x0) * (double)Math.Max(0, y1 - y0);
        double union = Area + other.Area - inter;
        return union <= 0 ? 0 : inter / union;
    }
}

/// <summary>
/// One white cell found on a smear, in the smear's own pixels.
/// <paramref name="Box"/> is the whole cell (nucleus and cytoplasm), as a Pascal VOC WBC box is drawn.
/// <paramref name="NucleusBox"/> is the box of its stained nucleus; <paramref name="CenterX"/>/<paramref name="CenterY"/> is the point
/// the classifier's window is centred on (the centre of the nucleus box, as <c>CellLocator</c> centres a single-cell image).
/// <paramref name="Edge"/> is true when the cell is cut by the image border. <paramref name="Score"/> in [0, 1]: how sure the detector is.
/// </summary>
public sealed record DetectedCell(PixelBox Box, PixelBox NucleusBox, double CenterX, double CenterY, bool Edge, double Score);

/// <summary>What the detector found on one image.</summary>
/// <param name="SingleCellCrop">True when the image is not a smear field but a crop around one cell (the Kaggle images are): it is then classified as one cell, as Classify does.</param>
/// <param name="Scale">Smear pixels per pixel of a BCCD field (640x480 at the BCCD magnification): 1 for BCCD smears, 0.5 for the Kaggle images.</param>
public sealed record SmearDetection(int Width, int Height, IReadOnlyList<DetectedCell> Cells, bool SingleCellCrop, double Scale);

/// <summary>Finds the white cells of a stained blood smear image. Pure and thread-safe.</summary>
public interface IWbcDetector
{
    SmearDetection Detect(Image<Rgb24> image, CancellationToken cancellationToken = default);
}
