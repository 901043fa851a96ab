namespace WbcPortal.Engine.Evaluation;

/// <summary>One source original (a source group: the augmented copies of one cell photograph) in an evaluation.</summary>
/// <param name="Group">The source group's id (<c>null</c>: an image with no group, counted as its own original).</param>
/// <param name="Label">The true class (index into the report's labels).</param>
/// <param name="MostPredicted">The class predicted most often for its images.</param>
/// <param name="ExampleKey">The key of one of its misclassified images (or of any image when none is wrong).</param>
/// <param name="MistakenFor">The class its wrong images are called most often (null when none is wrong, or in reports
/// stored before it was recorded).</param>
public sealed record OriginalSummary(int? Group, int Label, int Images, int Correct, int MostPredicted, string ExampleKey, int? MistakenFor = null)
{
    public int Errors => Images - Correct;

    /// <summary>
    /// The class its wrong images are called most often; in reports stored before that was recorded, its most predicted
    /// class where that is not its own, else null (unknown).
    /// </summary>
    public int? CalledInstead => MistakenFor ?? (MostPredicted != Label ? MostPredicted : null);
}

/// <summary>
/// The evaluation counted by source original instead of by image. The Kaggle images are ~33 augmented copies of each
/// original, so one evaluation part holds a few dozen independent cells, not a thousand: intervals that treat every
/// image as independent are far too narrow. These intervals come from a cluster bootstrap: the originals of each class
/// are drawn again with replacement (<see cref="Resamples"/> times, a fixed seed, so the figures repeat), and the
/// 2.5th and 97.5th percentiles of the accuracy (and of each class's recall, and of the calibrated ECE) over the draws
/// are the 95 % interval.
/// </summary>
public sealed record OriginalsReport
{
    public const int Resamples = 2000;
    public const int Seed = 20261126;

    /// <summary>How many originals the images come from.</summary>
    public required int Originals { get; init; }
    /// <summary>Per class, how many originals its images come from.</summary>
    public required IReadOnlyList<int> OriginalsPerClass { get; init; }
    /// <summary>95 % cluster-bootstrap interval of the accuracy.</summary>
    public required Interval AccuracyCi { get; init; }
    /// <summary>95 % cluster-bootstrap interval of the expected calibration error at the report's temperature (15 bins, as <see cref="CalibrationSummary"/>).</summary>
    public required Interval EceCi { get; init; }
    /// <summary>95 % cluster-bootstrap interval of each class's recall (in label order).</summary>
    public required IReadOnlyList<Interval> RecallCi { get; init; }
    /// <summary>Originals with at least one misclassified image, most errors first.</summary>
    public required IReadOnlyList<OriginalSummary> Mistaken { get; init; }
    /// <summary>How many of the misclassified images the worst originals account for: the share of errors in the top 5.</summary>
    public double TopFiveErrorShare
    {
        get
        {
            int errors = Mistaken.Sum(o => o.Errors);
            return errors == 0 ? 0 : (double)Mistaken.Take(5).Sum(o => o.Errors) / errors;
        }
    }

    /// <summary>
    /// Builds the report from per-image predictions and each image's source group (by key; a key with no group
    /// is its own original). Returns null when no image has a group: then nothing is known about originals.
    /// </summary>
    public static OriginalsReport? Build(int classes, IReadOnlyList<ImagePrediction> predictions, IReadOnlyDictionary<string, int?> groupOfKey, double temperature = 1)
    {
        if (predictions.Count == 0 || !predictions.Any(p => GroupOf(p) is not null)) return null;
        int? GroupOf(ImagePrediction p) => groupOfKey.TryGetValue(p.Key, out var g) ? g : null;

        // An original is (group, true label): a grouping that joined cells of two classes still counts each class apart.
        // An image with no group is an original of its own (keyed by itself).
        var grouped = predictions
            .GroupBy(p => (Group: GroupOf(p), Alone: GroupOf(p) is null ? p.Key : null, p.Label))
            .Select(g =>
            {
                var items = g.ToList();
                int correct = items.Count(p => p.Predicted == p.Label);
                int most = items.GroupBy(p => p.Predicted).OrderByDescending(x => x.Count()).ThenBy(x => x.Key).First().Key;
                var example = items.FirstOrDefault(p => p.Predicted != p.Label) ?? items[0];
                int? mistakenFor = items.Where(p => p.Predicted != p.Label).GroupBy(p => p.Predicted)
                    .OrderByDescending(x => x.Count()).ThenBy(x => x.Key).Select(x => (int?)x.Key).FirstOrDefault();
                return (Summary: new OriginalSummary(g.Key.Group, g.Key.Label, items.Count, correct, most, example.Key, mistakenFor), Bins: ReliabilityTotals.Of(items, temperature));
            })
            .ToList();
        var originals = grouped.Select(o => o.Summary).ToList();

        var byClass = Enumerable.Range(0, classes).Select(c => grouped.Where(o => o.Summary.Label == c).ToArray()).ToArray();
        var random = new Random(Seed);
        var accuracies = new double[Resamples];
        var eces = new double[Resamples];
        var drawn = new ReliabilityTotals();
        var recalls = Enumerable.Range(0, classes).Select(_ => new double[Resamples]).ToArray();
        for (int b = 0; b < Resamples; b++)
        {
            long images = 0, correct = 0;
            drawn.Clear();
            for (int c = 0; c < classes; c++)
            {
                var pool = byClass[c];
                if (pool.Length == 0) { recalls[c][b] = double.NaN; continue; }
                long ci = 0, cc = 0;
                for (int k = 0; k < pool.Length; k++)
                {
                    var (o, oBins) = pool[random.Next(pool.Length)];
                    ci += o.Images;
                    cc += o.Correct;
                    drawn.Add(oBins);
                }
                recalls[c][b] = (double)cc / ci;
                images += ci;
                correct += cc;
            }
            accuracies[b] = (double)correct / images;
            eces[b] = drawn.Ece();
        }

        var mistaken = originals.Where(o => o.Errors > 0).OrderByDescending(o => o.Errors).ThenBy(o => o.Group).ThenBy(o => o.ExampleKey, StringComparer.Ordinal).ToList();
        return new OriginalsReport
        {
            Originals = originals.Count,
            OriginalsPerClass = byClass.Select(c => c.Length).ToList(),
            AccuracyCi = Percentiles(accuracies),
            EceCi = Percentiles(eces),
            RecallCi = recalls.Select(Percentiles).ToList(),
            Mistaken = mistaken,
        };
    }

    /// <summary>The 2.5th and 97.5th percentiles (linear interpolation between order statistics).</summary>
    internal static Interval Percentiles(double[] values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0) return new Interval(0, 1);
        return new Interval(Quantile(sorted, 0.025), Quantile(sorted, 0.975));
    }

    private static double Quantile(double[] sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int lower = (int)Math.Floor(position);
        int upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }
}
