using System.Diagnostics;
using WbcPortal.Engine.Evaluation.Explain;
using WbcPortal.Engine.Evaluation.LabelIssues;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Training;
using static TorchSharp.torch;

namespace WbcPortal.Engine.Benchmarks;

/// <summary>
/// The review loop's server-side work, each beside its baseline in the same run: Grad-CAM of one image (vs the plain
/// forward pass it extends), a nearest-image query over a TRAIN-sized index (vs the 2 s a reviewer should wait at most),
/// the label-issue heads of five group folds over TRAIN-sized features (vs the frozen-feature extraction of TRAIN they
/// follow, projected from a measured batch), at the default preset's input size.
/// </summary>
public sealed class ReviewBenchmark(ResNet18Backbone backbone, FrozenFeatureExtractor features) : IBenchmark
{
    /// <summary>The Kaggle TRAIN set's size: the scale the label-issue search runs at.</summary>
    public const int TrainImages = 9957;

    public string Name => "review";
    public string Description => "Review: Grad-CAM of one image, a nearest-image query, label-issue heads over TRAIN-sized features";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var config = TrainingPresets.All["default"];
        var results = new List<BenchResult>();
        using var temp = new TempFolder();

        // Grad-CAM: forward + backward to the last stage, against forward only.
        progress?.Report("Grad-CAM of one image");
        string weights = Path.Combine(temp.Path, "weights.bin");
        using (var model = new WbcClassifier(backbone.CreateResNet(), config.Head, 4))
        {
            model.eval();
            model.save(weights);
        }
        using var image = SyntheticSmear(320, 240, 3);
        var explainer = new GradCamExplainer(new BackboneRegistry([backbone]));
        explainer.Explain(weights, config, 4, image); // warm-up
        double gradCam = Median(5, () => explainer.Explain(weights, config, 4, image));
        var labeled = new[] { new LabeledImage("0", Path.Combine(temp.Path, "cell.png"), 0) };
        using (var file = File.Create(labeled[0].Path)) image.Save(file, new SixLabors.ImageSharp.Formats.Png.PngEncoder());
        double forward = Median(5, () => features.Extract(labeled, config, null, cancellationToken));
        results.Add(new BenchResult("review.gradcam.one-image", Math.Round(gradCam * 1000, 1), "ms", Math.Round(forward * 1000, 1), "review.forward.one-image",
            "loads the run's weights each time (as the endpoint does); target under 2,000 ms"));

        // Nearest images: a scan of a TRAIN-sized index.
        progress?.Report("nearest-image query");
        var rng = new Random(5);
        var vectors = Enumerable.Range(0, TrainImages).Select(_ => Enumerable.Range(0, CntkResNet18.FeatureDim).Select(_ => (float)rng.NextDouble()).ToArray()).ToList();
        var index = new FeatureIndex(Enumerable.Range(0, TrainImages).ToList(), Enumerable.Range(0, TrainImages).Select(i => i % 4).ToList(), vectors);
        double query = Median(9, () => index.Nearest(vectors[17], 8));
        results.Add(new BenchResult("review.neighbours.query", Math.Round(query * 1000, 2), "ms", 2000, "target", $"{TrainImages:N0} x {CntkResNet18.FeatureDim} index, top 8 (plus one forward pass for the query image)"));

        // Label issues: five group folds of heads over TRAIN-sized features, against the extraction they follow.
        progress?.Report("label-issue heads, 5 group folds");
        var inputs = vectors.Select((v, i) => new LabelIssueInput(i + 1, i / 33, i % 4, v)).ToList();
        var watch = Stopwatch.StartNew();
        LabelIssueFinder.Find(["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"], inputs, 5, 42, cancellationToken: cancellationToken);
        double heads = watch.Elapsed.TotalSeconds;
        progress?.Report("frozen features of 64 images");
        var batch = Enumerable.Range(0, 64).Select(i => labeled[0] with { Key = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }).ToList();
        watch.Restart();
        features.Extract(batch, config, null, cancellationToken);
        double perImage = watch.Elapsed.TotalSeconds / batch.Count;
        results.Add(new BenchResult("review.label-issues.heads.train-size", Math.Round(heads, 1), "s", Math.Round(perImage * TrainImages, 1), "review.label-issues.features.train-size (projected)",
            $"features measured at {1 / perImage:F1} img/s; the whole cheap mode on TRAIN is their sum plus the same-cell search; target under 300 s"));
        return results;
    }

    private static double Median(int runs, Action step)
    {
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            step();
            times.Add(watch.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    private static SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24> SyntheticSmear(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double d = Math.Sqrt((x - width / 2.0) * (x - width / 2.0) + (y - height / 2.0) * (y - height / 2.0));
                byte n = (byte)rng.Next(0, 8);
                image[x, y] = d < 30 ? new(100, 60, 160) : d < 45 ? new(200, 180, 215) : new((byte)(225 + n), (byte)(215 + n), (byte)(220 + n));
            }
        return image;
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("wbc-bench-review").FullName;
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
