using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Detection;
using WbcPortal.Engine.Inference.Serving;

namespace WbcPortal.Engine.Smears;

/// <summary>One white cell of a smear with the classifier's answer: box in the smear's pixels, the point the window was centred on, edge flag.</summary>
public sealed record SmearCell(PixelBox Box, double CenterX, double CenterY, bool Edge, double DetectionScore, CellPrediction Prediction);

/// <summary>What a smear holds: its size, whether it was a single-cell image, the scale it was read at, and its cells.</summary>
public sealed record SmearAnalysis(int Width, int Height, bool SingleCellCrop, double Scale, double ViewHeight, IReadOnlyList<SmearCell> Cells);

/// <summary>
/// From a smear image to classified white cells: the detector finds each cell; each goes to the classifier in a window
/// centred on its nucleus and as large, in the cell's own pixels, as the single-cell images it learnt from were (the Kaggle
/// images are these smears at half resolution: <see cref="Inference.OnnxClassifier.SmearViewHeight"/>). An image the detector
/// takes for a single-cell crop is classified as Classify does (the model's own locator picks the cell), so a Kaggle image
/// gets the same answer here as there. All cells of a smear go to the model's micro-batcher at once.
/// </summary>
public static class SmearAnalyzer
{
    public static async Task<SmearAnalysis> AnalyzeAsync(Image<Rgb24> image, IWbcDetector detector, ServedModel.Lease lease, CancellationToken cancellationToken)
    {
        var detection = detector.Detect(image, cancellationToken);
        double viewHeight = lease.Model.Classifier.SmearViewHeight(detection.Scale);
        if (detection.SingleCellCrop)
        {
            var prediction = await lease.PredictAsync(image, cancellationToken).ConfigureAwait(false);
            var cell = detection.Cells.OrderByDescending(c => c.Box.Area).FirstOrDefault();
            var box = cell?.Box ?? new PixelBox(0, 0, image.Width, image.Height);
            return new SmearAnalysis(image.Width, image.Height, true, detection.Scale, viewHeight,
                [new SmearCell(box, (box.XMin + box.XMax) / 2.0, (box.YMin + box.YMax) / 2.0, cell?.Edge ?? false, cell?.Score ?? 1, prediction)]);
        }
        var predictions = await Task.WhenAll(detection.Cells.Select(c => lease.PredictAtAsync(image, c.CenterX, c.CenterY, viewHeight, cancellationToken))).ConfigureAwait(false);
        var cells = detection.Cells.Select((c, i) => new SmearCell(c.Box, c.CenterX, c.CenterY, c.Edge, c.Score, predictions[i])).ToList();
        return new SmearAnalysis(image.Width, image.Height, false, detection.Scale, viewHeight, cells);
    }
}

/// <summary>The part of a smear a classifier's window covers around a cell, for showing it and explaining it.</summary>
public static class SmearWindow
{
    /// <summary>
    /// The rectangle of the smear the model's view of a cell covers: <paramref name="viewHeight"/> rows high, as wide as the model's
    /// input is in proportion, centred on the cell and kept inside the smear as the view is (<c>ModelView</c>).
    /// </summary>
    public static Rectangle Region(int width, int height, double centerX, double centerY, double viewHeight, int inputWidth, int inputHeight)
    {
        double viewW = viewHeight * inputWidth / inputHeight;
        double cx = Math.Clamp(centerX, Math.Min(viewW / 2, width / 2.0), Math.Max(width - viewW / 2, width / 2.0));
        double cy = Math.Clamp(centerY, Math.Min(viewHeight / 2, height / 2.0), Math.Max(height - viewHeight / 2, height / 2.0));
        int x0 = Math.Max(0, (int)Math.Round(cx - viewW / 2)), y0 = Math.Max(0, (int)Math.Round(cy - viewHeight / 2));
        int x1 = Math.Min(width, (int)Math.Round(cx + viewW / 2)), y1 = Math.Min(height, (int)Math.Round(cy + viewHeight / 2));
        return new Rectangle(x0, y0, Math.Max(1, x1 - x0), Math.Max(1, y1 - y0));
    }

    /// <summary>
    /// A training image of one cell at the scale of the Kaggle images (half a BCCD field's resolution): a square of 480 BCCD pixels
    /// (240 pixels at half resolution) centred on the cell, edge pixels repeated where it passes the smear's border. A model's
    /// window (0.6 of the shorter side) then covers the cell as it covers a Kaggle image's; centring on the cell keeps the crops of two
    /// cells of one smear apart (a whole field would be the same image for both).
    /// </summary>
    public static Image<Rgb24> TrainingCrop(Image<Rgb24> smear, double centerX, double centerY, double scale)
    {
        double factor = 1 / (2 * scale);
        int hw = Math.Max(1, (int)Math.Round(smear.Width * factor)), hh = Math.Max(1, (int)Math.Round(smear.Height * factor));
        using var half = smear.Clone(c => c.Resize(hw, hh));
        const int Side = 240;
        var pixels = new Rgb24[hw * hh];
        half.CopyPixelDataTo(pixels);
        var output = new Rgb24[Side * Side];
        int left = (int)Math.Round(centerX * factor) - Side / 2, top = (int)Math.Round(centerY * factor) - Side / 2;
        for (int y = 0; y < Side; y++)
        {
            int sy = Math.Clamp(top + y, 0, hh - 1);
            for (int x = 0; x < Side; x++) output[y * Side + x] = pixels[sy * hw + Math.Clamp(left + x, 0, hw - 1)];
        }
        return Image.LoadPixelData<Rgb24>(output, Side, Side);
    }
}
