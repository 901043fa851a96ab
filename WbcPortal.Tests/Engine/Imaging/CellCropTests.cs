using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Onnx;

namespace WbcPortal.Tests.Engine.Imaging;

/// <summary>Finding the white cell and cutting the model's view around it, on images drawn here.</summary>
public sealed class CellCropTests
{
    private static readonly Rgb24 Background = new(228, 218, 222), RedCell = new(205, 125, 135), Nucleus = new(90, 50, 140), PaleNucleus = new(160, 140, 205);

    /// <summary>A 320x240 smear: red cells, a nucleus of <paramref name="radius"/> at (x, y), optional black rotation corners and extra lobes.</summary>
    private static Image<Rgb24> Smear(int x, int y, int radius = 22, Rgb24? nucleus = null, bool blackCorners = false, params (int X, int Y, int R)[] extra)
    {
        var image = new Image<Rgb24>(320, 240, Background);
        var reds = new[] { (40, 40, 22), (280, 200, 20), (60, 200, 24), (250, 50, 18), (160, 30, 16) };
        image.ProcessPixelRows(rows =>
        {
            for (int py = 0; py < rows.Height; py++)
            {
                var row = rows.GetRowSpan(py);
                for (int px = 0; px < row.Length; px++)
                {
                    foreach (var (cx, cy, r) in reds) if ((px - cx) * (px - cx) + (py - cy) * (py - cy) < r * r) row[px] = RedCell;
                    if ((px - x) * (px - x) + (py - y) * (py - y) < radius * radius) row[px] = nucleus ?? Nucleus;
                    foreach (var (ex, ey, er) in extra) if ((px - ex) * (px - ex) + (py - ey) * (py - ey) < er * er) row[px] = nucleus ?? Nucleus;
                    if (blackCorners && (px + py < 70 || (319 - px) + (239 - py) < 70)) row[px] = new Rgb24(0, 0, 0);
                }
            }
        });
        return image;
    }

    [Theory]
    [InlineData(160, 120)]
    [InlineData(90, 150)]
    [InlineData(250, 80)]
    public void The_nucleus_is_found_where_it_was_drawn(int x, int y)
    {
        using var image = Smear(x, y, blackCorners: true);
        var location = CellLocator.Locate(image);
        Assert.True(location.Found);
        Assert.InRange(location.CenterX, x - 4, x + 4);
        Assert.InRange(location.CenterY, y - 4, y + 4);
        Assert.InRange(location.NucleusFraction, 0.015, 0.03); // pi * 22^2 / (320 * 240) = 0.0198
    }

    [Fact]
    public void Lobes_of_one_nucleus_count_as_one_cell_and_beat_a_platelet()
    {
        // Three lobes a few pixels apart (a neutrophil) on the right; a small purple speck (platelet) on the left.
        using var image = Smear(220, 120, radius: 12, extra: [(240, 126, 12), (230, 145, 11), (60, 120, 5)]);
        var location = CellLocator.Locate(image);
        Assert.True(location.Found);
        Assert.InRange(location.CenterX, 220, 245);
        Assert.InRange(location.CenterY, 115, 145);
    }

    [Fact]
    public void A_pale_nucleus_is_found_at_a_looser_level_and_an_empty_smear_falls_back_to_the_centre()
    {
        using var pale = Smear(100, 100, nucleus: PaleNucleus);
        var found = CellLocator.Locate(pale);
        Assert.True(found.Found);
        Assert.InRange(found.CenterX, 96, 104);

        using var empty = new Image<Rgb24>(320, 240, Background);
        var none = CellLocator.Locate(empty);
        Assert.False(none.Found);
        Assert.Equal((160f, 120f), (none.CenterX, none.CenterY));
        using var black = new Image<Rgb24>(320, 240, new Rgb24(0, 0, 0));
        Assert.False(CellLocator.Locate(black).Found);
    }

    [Fact]
    public void The_view_is_centred_on_the_cell_kept_inside_the_image_and_widened_by_the_margin()
    {
        var view = new ModelView(new CellCropSpec { Enabled = true, Size = 0.5 }, 64, 64);
        using var image = Smear(200, 130);
        using var window = view.Window(image, margin: 1.5);
        Assert.Equal((96, 96), (window.Width, window.Height));
        using var centre = view.Center(window);
        Assert.Equal((64, 64), (centre.Width, centre.Height));
        // The nucleus (radius 22 of a 120-pixel view, scale 64/120) sits in the middle of the view.
        Assert.Equal(Nucleus, Near(centre[32, 32], Nucleus));
        Assert.Equal(Background, Near(centre[2, 32], Background));

        // A cell at the very edge: the view moves inside the image instead of showing padding.
        using var edge = Smear(310, 230);
        using var edgeView = view.Window(edge);
        Assert.Equal((64, 64), (edgeView.Width, edgeView.Height));
        Assert.Equal(Nucleus, Near(edgeView[62, 62], Nucleus));
        Assert.NotEqual(Nucleus, Near(edgeView[20, 20], Nucleus));

        // Without a crop the view is the whole image resized.
        var whole = new ModelView(CellCropSpec.None, 48, 64);
        using var all = whole.Window(image, margin: 2);
        Assert.Equal((64, 48), (all.Width, all.Height));
    }

    [Theory]
    [InlineData(true, 200, 130)]
    [InlineData(true, 310, 230)]
    [InlineData(false, 160, 120)]
    public void The_view_pixels_and_their_mirrored_normalisation_equal_the_images_they_replace(bool crop, int x, int y)
    {
        // Inference reads the view once and mirrors while normalising; the result must be the same floats as cutting
        // the window, taking its centre, flipping that image and normalising it, which is how training evaluates.
        var view = new ModelView(crop ? new CellCropSpec { Enabled = true, Size = 0.6 } : CellCropSpec.None, 56, 72);
        var rng = new Random(7);
        var meanPlanes = Enumerable.Range(0, 3 * 20 * 24).Select(_ => (float)(100 + rng.NextDouble() * 50)).ToArray();
        var preprocessor = new WbcPortal.Engine.Imaging.BackbonePreprocessor(new WbcPortal.Engine.Imaging.MeanImage(meanPlanes, 20, 24), 56, 72);
        using var image = Smear(x, y);
        image.Mutate(c => c.Rotate(7)); // uneven pixels, so a wrong mirror or offset shows
        using var reference = image.CloneAs<Rgb24>();
        var pixels = new Rgb24[56 * 72];
        view.ViewPixels(image, pixels);
        using var window = view.Window(reference);
        using var centre = view.Center(window);
        var expectedPixels = new Rgb24[56 * 72];
        centre.CopyPixelDataTo(expectedPixels);
        Assert.Equal(expectedPixels, pixels);

        foreach (var (horizontal, vertical) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            using var flipped = centre.Clone(c =>
            {
                if (horizontal) c.Flip(FlipMode.Horizontal);
                if (vertical) c.Flip(FlipMode.Vertical);
            });
            var expected = new float[preprocessor.Length];
            preprocessor.Normalize(flipped, expected);
            var actual = new float[preprocessor.Length];
            preprocessor.Normalize(pixels, actual, horizontal, vertical);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Crop_settings_are_checked_and_travel_in_the_onnx_metadata()
    {
        Assert.Contains("window size", Assert.Throws<ArgumentException>(() => new CellCropSpec { Enabled = true, Size = 0 }.Validate()).Message);
        Assert.Contains("threshold", Assert.Throws<ArgumentException>(() => new CellCropSpec { Enabled = true, Threshold = 300 }.Validate()).Message);
        new CellCropSpec { Size = 0 }.Validate(); // off: not checked

        var crop = new CellCropSpec { Enabled = true, Size = 0.55, Threshold = 140 };
        var metadata = new ClassifierOnnxMetadata(["A", "B"], 96, 96, null, crop);
        var back = ClassifierOnnxMetadata.FromProperties(metadata.ToProperties());
        Assert.Equal(crop, back.Crop);
        var plain = ClassifierOnnxMetadata.FromProperties(new ClassifierOnnxMetadata(["A", "B"], 96, 96).ToProperties());
        Assert.False(plain.Crop!.Enabled);
    }

    /// <summary>The expected colour when <paramref name="actual"/> is within 12 of it on every channel, else the actual one (for a readable failure).</summary>
    private static Rgb24 Near(Rgb24 actual, Rgb24 expected) =>
        Math.Abs(actual.R - expected.R) <= 12 && Math.Abs(actual.G - expected.G) <= 12 && Math.Abs(actual.B - expected.B) <= 12 ? expected : actual;
}
