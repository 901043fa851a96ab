using WbcPortal.Engine.Datasets.Splitting;

namespace WbcPortal.Engine.Evaluation.LabelIssues;

/// <summary>One image of the search: its dataset id, source group, given label (class index) and frozen-backbone features.</summary>
public sealed record LabelIssueInput(int Id, int? Group, int Label, float[] Features);

/// <summary>One image's out-of-fold verdict.</summary>
/// <param name="Probabilities">Out-of-fold probability of every class (the head never saw this image's source group).</param>
/// <param name="Issue">Confident learning counts its label as likely wrong.</param>
/// <param name="Suggested">The class it more likely is (the confident class for an issue, else the most probable other class).</param>
public sealed record LabelIssueImage(int Id, int? Group, int Label, double[] Probabilities, bool Issue, int Suggested, int Fold)
{
    /// <summary>The probability of the given label: the ranking's key, lowest first.</summary>
    public double SelfConfidence => Probabilities[Label];
}

/// <summary>An original (source group under one label) ranked by its copies' mean self-confidence.</summary>
public sealed record LabelIssueOriginal(int? Group, int Label, int Images, int Issues, double MeanSelfConfidence, int Suggested, double SuggestedProbability)
{
    /// <summary>Most of its copies are issues: the whole original is likely filed under the wrong class.</summary>
    public bool Likely => Issues * 2 > Images;
}

/// <summary>An original unlike every other in feature space: maybe not a usable white-cell image.</summary>
/// <param name="Distance">Cosine distance of its mean feature to the nearest other original's.</param>
/// <param name="Score">How unusual that distance is: (distance - median) / (1.4826 × MAD) over all originals.</param>
public sealed record LabelIssueOutlier(int? Group, int Label, int Images, double Distance, double Score, int ExampleId);

/// <summary>The label-issue search of a whole dataset.</summary>
public sealed record LabelIssueReport
{
    public const double OutlierScore = 3.5;

    public required IReadOnlyList<string> Labels { get; init; }
    public required int Folds { get; init; }
    public required int Seed { get; init; }
    /// <summary>Every image, most doubtful first (self-confidence ascending).</summary>
    public required IReadOnlyList<LabelIssueImage> Images { get; init; }
    /// <summary>Every original, most doubtful first (mean self-confidence ascending).</summary>
    public required IReadOnlyList<LabelIssueOriginal> Originals { get; init; }
    public required IReadOnlyList<double> Thresholds { get; init; }
    /// <summary>Rows: given label; columns: the confident class.</summary>
    public required int[][] ConfidentJoint { get; init; }
    /// <summary>Accuracy of the out-of-fold argmax against the given labels (how well the cheap head does at all).</summary>
    public required double OutOfFoldAccuracy { get; init; }
    public required IReadOnlyList<LabelIssueOutlier> Outliers { get; init; }
    public int IssueCount => Images.Count(i => i.Issue);
    /// <summary>Originals most of whose copies are flagged (<see cref="LabelIssueOriginal.Likely"/>): the count a search leads with.</summary>
    public int LikelyOriginalCount => Originals.Count(o => o.Likely);
}

/// <summary>
/// Finds images and originals whose label is likely wrong, cleanlab-style, without ever scoring an image with a head that
/// saw its own original: group k-fold over source groups (<see cref="GroupFolds"/>, no group on two sides), a
/// <see cref="SoftmaxRegression"/> head per fold on frozen features, confident learning on the out-of-fold probabilities.
/// Originals far from every other in feature space are listed as outliers.
/// </summary>
public static class LabelIssueFinder
{
    public static LabelIssueReport Find(IReadOnlyList<string> labels, IReadOnlyList<LabelIssueInput> images, int folds, int seed,
        SoftmaxRegressionOptions? options = null, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(images);
        int classes = labels.Count;
        if (images.Select(i => i.Label).Distinct().Count() < 2) throw new ArgumentException("Label issues need images of at least two classes.");
        if (images.Any(i => i.Label < 0 || i.Label >= classes)) throw new ArgumentException("An image's label is not one of the classes.");
        int dim = images[0].Features.Length;
        if (images.Any(i => i.Features.Length != dim)) throw new ArgumentException("Every image needs features of one length.");

        var items = images.Select(i => new SplitItem(i.Id, labels[i.Label], i.Group ?? -i.Id - 1, null)).ToList();
        var foldOf = GroupFolds.Assign(items, folds, seed);
        var probabilities = new double[images.Count][];
        for (int f = 0; f < folds; f++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var train = images.Where(i => foldOf[i.Id] != f).ToList();
            var testIndex = Enumerable.Range(0, images.Count).Where(i => foldOf[images[i].Id] == f).ToList();
            var p = SoftmaxRegression.FitPredict(train.Select(i => i.Features).ToList(), train.Select(i => i.Label).ToList(),
                testIndex.Select(i => images[i].Features).ToList(), classes, options, cancellationToken);
            for (int j = 0; j < testIndex.Count; j++) probabilities[testIndex[j]] = p[j];
            progress?.Report((f + 1.0) / (folds + 1));
        }

        var scored = images.Select((x, i) => new ScoredImage(x.Id, x.Group, x.Label, probabilities[i], foldOf[x.Id])).ToList();
        var report = FromProbabilities(labels, scored, folds, seed) with { Outliers = Outliers(images, cancellationToken) };
        progress?.Report(1);
        return report;
    }

    /// <summary>An image's out-of-sample probabilities from elsewhere (a cross-validation's fold models), with the fold that scored it.</summary>
    public sealed record ScoredImage(int Id, int? Group, int Label, double[] Probabilities, int Fold);

    /// <summary>
    /// Confident learning and the ranking on out-of-sample probabilities already at hand (the "full fine-tune" mode: each
    /// image scored by the fold model of a group cross-validation that did not train on its original). No outliers: they
    /// need features.
    /// </summary>
    public static LabelIssueReport FromProbabilities(IReadOnlyList<string> labels, IReadOnlyList<ScoredImage> images, int folds, int seed)
    {
        int classes = labels.Count;
        if (images.Select(i => i.Label).Distinct().Count() < 2) throw new ArgumentException("Label issues need images of at least two classes.");
        if (images.Any(i => i.Label < 0 || i.Label >= classes || i.Probabilities.Length != classes)) throw new ArgumentException("An image's label or probabilities do not fit the classes.");
        var probabilities = images.Select(i => i.Probabilities).ToList();
        var labelsOf = images.Select(i => i.Label).ToList();
        var cl = ConfidentLearning.Find(probabilities, labelsOf, classes);
        var verdicts = images.Select((x, i) => new LabelIssueImage(x.Id, x.Group, x.Label, probabilities[i], cl.Issue[i], cl.Suggested[i], x.Fold)).ToList();
        double accuracy = verdicts.Count(v => Compute.VectorMath.Argmax(v.Probabilities) == v.Label) / (double)verdicts.Count;

        var originals = verdicts.GroupBy(v => (v.Group, v.Label, Alone: v.Group is null ? v.Id : 0))
            .Select(g =>
            {
                var mean = new double[classes];
                foreach (var v in g) for (int k = 0; k < classes; k++) mean[k] += v.Probabilities[k] / g.Count();
                int suggested = Enumerable.Range(0, classes).Where(k => k != g.Key.Label).OrderByDescending(k => mean[k]).First();
                return new LabelIssueOriginal(g.Key.Group, g.Key.Label, g.Count(), g.Count(v => v.Issue), mean[g.Key.Label], suggested, mean[suggested]);
            })
            .OrderBy(o => o.MeanSelfConfidence).ThenBy(o => o.Group).ThenBy(o => o.Label).ToList();

        return new LabelIssueReport
        {
            Labels = labels,
            Folds = folds,
            Seed = seed,
            Images = verdicts.OrderBy(v => v.SelfConfidence).ThenBy(v => v.Id).ToList(),
            Originals = originals,
            Thresholds = cl.Thresholds,
            ConfidentJoint = cl.ConfidentJoint,
            OutOfFoldAccuracy = accuracy,
            Outliers = [],
        };
    }

    /// <summary>Originals whose mean (L2-normalised) feature is unusually far from every other original's: robust z-score over all originals.</summary>
    private static List<LabelIssueOutlier> Outliers(IReadOnlyList<LabelIssueInput> images, CancellationToken cancellationToken)
    {
        var originals = images.GroupBy(i => (i.Group, i.Label, Alone: i.Group is null ? i.Id : 0)).Select(g =>
        {
            var mean = new double[g.First().Features.Length];
            foreach (var i in g)
            {
                double norm = Math.Sqrt(i.Features.Sum(x => (double)x * x)) + 1e-12;
                for (int j = 0; j < mean.Length; j++) mean[j] += i.Features[j] / norm;
            }
            double m = Math.Sqrt(mean.Sum(x => x * x)) + 1e-12;
            return (g.Key.Group, g.Key.Label, Images: g.Count(), Example: g.First().Id, Mean: mean.Select(x => (float)(x / m)).ToArray());
        }).ToList();
        if (originals.Count < 5) return [];
        var nearest = new double[originals.Count];
        for (int a = 0; a < originals.Count; a++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double best = double.MaxValue;
            for (int b = 0; b < originals.Count; b++)
                if (b != a) best = Math.Min(best, 1 - Compute.VectorMath.Dot(originals[a].Mean, originals[b].Mean));
            nearest[a] = best;
        }
        var sorted = nearest.Order().ToArray();
        double median = sorted[sorted.Length / 2];
        var deviations = nearest.Select(d => Math.Abs(d - median)).Order().ToArray();
        double mad = 1.4826 * deviations[deviations.Length / 2] + 1e-9;
        return originals.Select((o, i) => new LabelIssueOutlier(o.Group, o.Label, o.Images, nearest[i], (nearest[i] - median) / mad, o.Example))
            .Where(o => o.Score >= LabelIssueReport.OutlierScore).OrderByDescending(o => o.Score).ToList();
    }
}
