using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Tests.Engine.Datasets;

namespace WbcPortal.Tests.Support;

/// <summary>
/// A folder of class folders in which one cell is filed under two classes: <c>originals</c> synthetic smears (the first
/// half EOSINOPHIL, the rest NEUTROPHIL) with augmented copies each, and the cell of o0 (an eosinophil) photographed
/// again, flipped, and filed as a neutrophil (x0). Source groups, cut within a class, never join o0 and x0.
/// </summary>
public static class SameCellFixture
{
    public static async Task WriteAsync(string root, int originals, int copies, int seed, CancellationToken cancellationToken)
    {
        var random = new Random(8);
        async Task Write(Image<Rgb24> original, string cls, string name)
        {
            Directory.CreateDirectory(Path.Combine(root, cls));
            for (int k = 0; k < copies; k++)
            {
                using var copy = LeakCheckerTests.Augmenter.Augment(original, random);
                await copy.SaveAsPngAsync(Path.Combine(root, cls, $"{name}_{k}.png"), cancellationToken);
            }
        }
        for (int o = 0; o < originals; o++)
        {
            using var original = LeakCheckerTests.Smear(seed: seed + o);
            await Write(original, o < originals / 2 ? "EOSINOPHIL" : "NEUTROPHIL", $"o{o}");
        }
        using var field = LeakCheckerTests.Smear(seed: seed);
        using var again = field.Clone(c => c.Flip(FlipMode.Vertical));
        await Write(again, "NEUTROPHIL", "x0");
    }
}
