using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging.Augmentation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Grouping;

public class AffineAugmenterTests
{
    [Fact]
    public void Identity_and_flips_are_exact()
    {
        using var image = TestImages.Smear(64, 48, seed: 2);
        var augmenter = new AffineAugmenter(AugmentationOptions.KaggleBloodCells);
        using var same = augmenter.Apply(image, new AffineTransform(0, 0, 0, 0, 1, false, false));
        using var flipped = augmenter.Apply(image, new AffineTransform(0, 0, 0, 0, 1, true, true));
        for (int y = 0; y < 48; y++)
        {
            for (int x = 0; x < 64; x++)
            {
                Assert.Equal(image[x, y], same[x, y]);
                Assert.Equal(image[x, y], flipped[63 - x, 47 - y]);
            }
        }
    }

    [Fact]
    public void Rotation_fills_corners_and_draws_are_reproducible()
    {
        using var image = TestImages.Smear(seed: 4);
        var augmenter = new AffineAugmenter(AugmentationOptions.KaggleBloodCells);
        using var rotated = augmenter.Apply(image, new AffineTransform(20 * Math.PI / 180, 0, 0, 0, 1, false, false));
        Assert.Equal(new Rgb24(0, 0, 0), rotated[0, 0]);
        Assert.Equal(augmenter.Draw(new Random(9), 320, 240), augmenter.Draw(new Random(9), 320, 240));
        var t = augmenter.Draw(new Random(3), 320, 240);
        Assert.InRange(Math.Abs(t.RotationRadians), 0, 20 * Math.PI / 180);
        Assert.InRange(Math.Abs(t.ShiftX), 0, 32);
        Assert.InRange(Math.Abs(t.ShiftY), 0, 24);
    }
}
