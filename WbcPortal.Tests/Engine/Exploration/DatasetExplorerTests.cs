using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Engine.Imaging;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Exploration;

public class DatasetExplorerTests
{
    private static string Save(string folder, string name, Image<Rgb24> image)
    {
        string path = Path.Combine(folder, name);
        image.SaveAsPng(path);
        image.Dispose();
        return path;
    }

    private static Image<Rgb24> Filled(int width, int height, Func<int, int, Rgb24> pixel)
    {
        var image = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++) image[x, y] = pixel(x, y);
        }
        return image;
    }

    [Fact]
    public void Measures_each_class_and_the_average_over_all_images()
    {
        using var dir = new TempDirectory();
        var images = new List<ExplorationImage>
        {
            // class a: one half-black half-white image and one all-white image
            new("a", Save(dir.Path, "a1.png", Filled(20, 10, (x, _) => x < 10 ? new Rgb24(0, 0, 0) : new Rgb24(255, 255, 255)))),
            new("a", Save(dir.Path, "a2.png", Filled(20, 10, (_, _) => new Rgb24(255, 255, 255)))),
            // class b: gray 100 everywhere
            new("b", Save(dir.Path, "b1.png", Filled(8, 8, (_, _) => new Rgb24(100, 100, 100)))),
            new("b", Path.Combine(dir.Path, "missing.png")),
        };
        var progress = new List<double>();
        var result = new DatasetExplorer(new ImageDecoding(ImageLimits.Default)).Explore(images, new ExplorationOptions { SamplePerClass = 10 }, new SyncProgress(progress.Add), TestContext.Current.CancellationToken);

        Assert.Equal(["a", "b"], result.Classes.Select(c => c.ClassName));
        Assert.Equal(3, result.Measured);
        Assert.Equal(1, result.Failed);
        var a = result.Classes[0];
        Assert.Equal(2, a.Images);
        Assert.Equal(2, a.Measured);
        Assert.Equal(0.25, a.MeanBlackFraction, 12);
        Assert.Equal(0.5, a.ShareWithBorder, 12);
        Assert.Equal(0.25, a.Density[0], 12);
        Assert.Equal(0.75, a.Density[255], 12);
        Assert.Equal(0.25, a.FractionBelow(150), 12);
        var b = result.Classes[1];
        Assert.Equal(2, b.Images);
        Assert.Equal(1, b.Measured);
        Assert.Equal(1.0, b.FractionBelow(101), 12);
        Assert.Equal(0.0, b.FractionBelow(100), 12);

        Assert.Equal(1.0, result.AverageDensity.Sum(), 9);
        Assert.Equal(0.5 / 3, result.AverageDensity[0], 12);
        Assert.Equal(1.0 / 3, result.AverageDensity[100], 12);
        Assert.Equal(4, progress.Count);
        Assert.Equal(1.0, progress.Max(), 12);
    }

    [Fact]
    public void Sampling_is_seeded_bounded_per_class_and_independent_of_other_classes()
    {
        var items = Enumerable.Range(0, 50).Select(i => (Class: "x", Id: i)).Concat(Enumerable.Range(0, 3).Select(i => (Class: "y", Id: 100 + i))).ToList();
        var first = Sampling.PerClass(items, i => i.Class, 8, seed: 7);
        var again = Sampling.PerClass(items, i => i.Class, 8, seed: 7);
        var other = Sampling.PerClass(items, i => i.Class, 8, seed: 8);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(8, first.Count(i => i.Class == "x"));
        Assert.Equal(3, first.Count(i => i.Class == "y"));
        Assert.Equal(first.Count, first.Distinct().Count());

        var withMoreY = items.Concat(Enumerable.Range(0, 20).Select(i => (Class: "y", Id: 200 + i))).ToList();
        Assert.Equal(first.Where(i => i.Class == "x"), Sampling.PerClass(withMoreY, i => i.Class, 8, seed: 7).Where(i => i.Class == "x"));
    }

    [Fact]
    public void A_seed_gives_the_same_sample_in_every_process()
    {
        // pinned values: a sample must not depend on per-process hash randomisation
        var sample = Sampling.PerClass(Enumerable.Range(0, 20), _ => "EOSINOPHIL", 5, seed: 1);
        Assert.Equal([18, 9, 7, 2, 8], sample);
    }

    [Fact]
    public void Cancellation_stops_the_measurement()
    {
        using var dir = new TempDirectory();
        var images = Enumerable.Range(0, 4).Select(i => new ExplorationImage("a", Save(dir.Path, $"s{i}.png", TestImages.Smear(seed: i)))).ToList();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new DatasetExplorer(new ImageDecoding(ImageLimits.Default)).Explore(images, cancellationToken: cts.Token));
    }

    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        private readonly Lock gate = new();

        public void Report(double value)
        {
            lock (gate) report(value);
        }
    }
}
