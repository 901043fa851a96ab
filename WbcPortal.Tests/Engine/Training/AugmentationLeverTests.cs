using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging.Augmentation;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Training;

/// <summary>The recipe levers of issue 23: stain jitter in the stains' own space, blur and JPEG, mixup's draw.</summary>
public sealed class AugmentationLeverTests
{
    [Fact]
    public void Stain_space_round_trip_keeps_the_image_and_more_stain_darkens_the_stained_nucleus_more_than_the_background()
    {
        using var image = TestImages.Field(160, 120, 3, [(80, 60, 20)], scale: 0.25);
        using var same = image.Clone();
        StainAugmenter.Apply(same, [1, 1, 1], [0, 0, 0]);
        for (int y = 0; y < image.Height; y += 7)
            for (int x = 0; x < image.Width; x += 7)
            {
                var (a, b) = (image[x, y], same[x, y]);
                Assert.InRange(Math.Abs(a.R - b.R) + Math.Abs(a.G - b.G) + Math.Abs(a.B - b.B), 0, 3);
            }

        using var stained = image.Clone();
        StainAugmenter.Apply(stained, [1.3, 1.3, 1.3], [0, 0, 0]);
        // Optical density: how much stain a pixel holds.
        static double Density(Rgb24 p) => -Math.Log((p.R + 1) / 256.0) - Math.Log((p.G + 1) / 256.0) - Math.Log((p.B + 1) / 256.0);
        var nucleus = (X: 20, Y: 15); // the field is drawn at a quarter of its size
        var background = (X: 2, Y: 2);
        double nucleusGain = Density(stained[nucleus.X, nucleus.Y]) - Density(image[nucleus.X, nucleus.Y]);
        double backgroundGain = Density(stained[background.X, background.Y]) - Density(image[background.X, background.Y]);
        Assert.True(nucleusGain > 0.1, $"nucleus gained {nucleusGain:0.000} of optical density");
        Assert.True(nucleusGain > 2 * backgroundGain, $"nucleus {nucleusGain:0.000}, background {backgroundGain:0.000}");
    }

    [Fact]
    public void Jitter_blur_and_jpeg_draw_from_the_callers_random_only()
    {
        using var image = TestImages.Field(96, 96, 4, [(48, 48, 18)], scale: 0.3);
        Image<Rgb24> Run(int seed)
        {
            var copy = image.Clone();
            var random = new Random(seed);
            StainAugmenter.StainJitter(copy, 0.2, random);
            return StainAugmenter.Degrade(copy, 1, 1, random);
        }
        using var a = Run(5);
        using var b = Run(5);
        using var c = Run(6);
        Assert.Equal(a[48, 48], b[48, 48]);
        Assert.Equal(a[10, 70], b[10, 70]);
        Assert.NotEqual(a[48, 48], c[48, 48]);
    }

    [Fact]
    public void Mixup_keeps_each_image_the_larger_part_and_pairs_by_a_permutation()
    {
        var random = new Random(3);
        var lambdas = new List<double>();
        for (int i = 0; i < 500; i++)
        {
            var mix = Mixup.Draw(0.4, 8, random);
            Assert.InRange(mix.Lambda, 0.5, 1);
            Assert.Equal(Enumerable.Range(0, 8).Select(k => (long)k), mix.Partner.Order());
            lambdas.Add(mix.Lambda);
        }
        // Beta(0.4, 0.4) folded: mostly near 1, some near 1/2 (mean about 0.84).
        Assert.InRange(lambdas.Average(), 0.80, 0.88);
        var gammas = Enumerable.Range(0, 4000).Select(_ => Mixup.Gamma(2.5, random)).ToList();
        Assert.InRange(gammas.Average(), 2.35, 2.65);
    }
}
