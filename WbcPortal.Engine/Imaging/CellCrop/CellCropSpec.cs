namespace WbcPortal.Engine.Imaging.CellCrop;

/// <summary>
/// How a model sees an image: the whole image, or a window centred on the white cell (found by
/// <see cref="CellLocator"/>). Saved with a run and in the exported model's metadata, so inference
/// crops the same way.
/// </summary>
public sealed record CellCropSpec
{
    public bool Enabled { get; init; }

    /// <summary>Height of the window as a fraction of the image's shorter side (its width follows the input's aspect).</summary>
    public double Size { get; init; } = 0.6;

    /// <summary>Grayscale level below which stained nuclei lie (the study's 150).</summary>
    public int Threshold { get; init; } = CellLocator.DefaultThreshold;

    public static CellCropSpec None { get; } = new();

    public void Validate()
    {
        if (!Enabled) return;
        if (Size is < 0.1 or > 1) throw new ArgumentException("Cell crop: the window size must be 0.1 to 1 of the image's shorter side.");
        if (Threshold is < 1 or > 254) throw new ArgumentException("Cell crop: the threshold must be 1 to 254.");
    }
}
