namespace WbcPortal.Engine.Evaluation.Review;

/// <summary>
/// One evaluated image as review sees it: its key (the dataset image id), its source group, its given label and the
/// model's raw logits; <paramref name="Flagged"/> when a label-issue search counts its label as likely wrong.
/// </summary>
public sealed record ReviewImage(string Key, int? Group, int Label, float[] Logits, bool Flagged = false);

/// <summary>One copy inside a tile: its calibrated probability of every class and what the model called it.</summary>
public sealed record ReviewCopy(string Key, int Label, int Predicted, IReadOnlyList<double> Probabilities, bool Flagged = false)
{
    public bool Wrong => Predicted != Label;
    /// <summary>Cross-entropy of the given label: high when the model is sure of something else.</summary>
    public double Loss => -Math.Log(Math.Max(Probabilities[Label], 1e-12));
}

/// <summary>
/// What a reviewer judges at once: one original (every copy of one source group under one label), or one image when the
/// dataset has no groups. Its probabilities are the mean over its copies; what it is called is its copies' majority.
/// </summary>
public sealed record ReviewTile
{
    /// <param name="rejectThreshold">The model's reject threshold: copies whose top probability is under it are counted in <see cref="Unidentified"/>.</param>
    public ReviewTile(string id, int? group, int label, IReadOnlyList<ReviewCopy> copies, int classes, double rejectThreshold = 0)
    {
        if (copies.Count == 0) throw new ArgumentException("A tile needs at least one image.", nameof(copies));
        Id = id;
        Group = group;
        Label = label;
        Copies = copies;
        var mean = new double[classes];
        var called = new int[classes];
        foreach (var c in copies)
        {
            for (int k = 0; k < classes; k++) mean[k] += c.Probabilities[k] / copies.Count;
            called[c.Predicted]++;
        }
        Probabilities = mean;
        CalledAs = called;
        Predicted = Enumerable.Range(0, classes).OrderByDescending(k => called[k]).ThenByDescending(k => mean[k]).First();
        Wrong = copies.Count(c => c.Wrong);
        Flagged = copies.Count(c => c.Flagged);
        Loss = copies.Average(c => c.Loss);
        Unidentified = copies.Count(c => !Reject.RejectRule.Decides(c.Probabilities[c.Predicted], rejectThreshold));
        Shown = Wrong > 0 ? copies.Where(c => c.Wrong).MaxBy(c => c.Loss)! : copies.MaxBy(c => c.Probabilities[c.Predicted])!;
    }

    /// <summary>"g12:0" for an original (group 12, label 0), else the image key.</summary>
    public string Id { get; }
    public int? Group { get; }
    public int Label { get; }
    public IReadOnlyList<ReviewCopy> Copies { get; }
    public IReadOnlyList<double> Probabilities { get; }
    /// <summary>How many copies the model calls each class.</summary>
    public IReadOnlyList<int> CalledAs { get; }
    /// <summary>What most copies are called.</summary>
    public int Predicted { get; }
    public int Wrong { get; }
    /// <summary>How many copies a label-issue search flagged.</summary>
    public int Flagged { get; }
    /// <summary>How many copies the model answers "Unidentified" for (top probability under its reject threshold).</summary>
    public int Unidentified { get; }
    /// <summary>Mean cross-entropy of the label over the copies.</summary>
    public double Loss { get; }
    /// <summary>The copy the tile shows: its worst mistake, or its most confident copy when none is wrong.</summary>
    public ReviewCopy Shown { get; }
    public bool IsOriginal => Group is not null;
    public int Images => Copies.Count;
    /// <summary>Mean calibrated probability of what the tile is called.</summary>
    public double Confidence => Probabilities[Predicted];
    public double LabelProbability => Probabilities[Label];
    public IEnumerable<int> TopClasses(int count) => Enumerable.Range(0, Probabilities.Count).OrderByDescending(k => Probabilities[k]).Take(count);
    /// <summary>Whether any copy of class <paramref name="actual"/> is called <paramref name="predicted"/>.</summary>
    public bool Shows(int actual, int predicted) => Label == actual && CalledAs[predicted] > 0 && actual != predicted;
}

/// <summary>One cell of the confusion matrix off the diagonal, as fastai's <c>most_confused</c>: images and the originals they come from.</summary>
public sealed record ConfusedPair(int Actual, int Predicted, int Images, int Originals);

public enum ReviewFilter
{
    /// <summary>Tiles with at least one misclassified image.</summary>
    Mistakes,
    /// <summary>Tiles of one actual class with copies called one other class.</summary>
    Pair,
    /// <summary>Tiles whose confidence is below the reviewer's threshold, right or wrong.</summary>
    LowConfidence,
    All,
    /// <summary>Tiles most of whose copies a label-issue search flagged (its label is likely wrong).</summary>
    LabelIssues,
}

public enum ReviewSort
{
    /// <summary>Highest loss first: the model surest of something else.</summary>
    Loss,
    /// <summary>Least confident first.</summary>
    ConfidenceLow,
    /// <summary>Most confident first.</summary>
    ConfidenceHigh,
}

/// <summary>Which tiles a reviewer asked for, in which order.</summary>
public sealed record ReviewQuery(ReviewFilter Filter = ReviewFilter.Mistakes, int Actual = -1, int Predicted = -1, double Threshold = 0.6, ReviewSort Sort = ReviewSort.Loss)
{
    public void Validate(int classes)
    {
        if (Filter == ReviewFilter.Pair && (Actual < 0 || Actual >= classes || Predicted < 0 || Predicted >= classes || Actual == Predicted))
            throw new ArgumentException("A pair needs two different classes of the evaluation.");
        if (Threshold is <= 0 or > 1 || double.IsNaN(Threshold)) throw new ArgumentException("The confidence threshold is between 0 and 1.");
    }
}

/// <summary>
/// The review of one evaluation, computed by the engine so that a gallery only renders it (fastai's
/// <c>ClassificationInterpretation</c>, counted by original): tiles per original (the Kaggle images are augmented copies
/// of 277 cells, so one mistaken cell is dozens of wrong images), the most confused pairs, and the queries a reviewer
/// walks: mistakes, one confused pair, the low-confidence queue.
/// </summary>
public sealed class ReviewQueue
{
    /// <summary>The confusions a haematology reviewer settles first, by class name, when the evaluation has those classes.</summary>
    public static readonly IReadOnlyList<(string Actual, string Predicted)> FocusPairNames =
    [
        ("EOSINOPHIL", "NEUTROPHIL"), ("NEUTROPHIL", "EOSINOPHIL"), ("LYMPHOCYTE", "MONOCYTE"), ("MONOCYTE", "LYMPHOCYTE"),
    ];

    private ReviewQueue(IReadOnlyList<string> labels, IReadOnlyList<ReviewTile> tiles, IReadOnlyList<ConfusedPair> mostConfused, bool byOriginal)
    {
        Labels = labels;
        Tiles = tiles;
        MostConfused = mostConfused;
        ByOriginal = byOriginal;
    }

    public IReadOnlyList<string> Labels { get; }
    public IReadOnlyList<ReviewTile> Tiles { get; }
    /// <summary>Off-diagonal cells with at least one image, most images first.</summary>
    public IReadOnlyList<ConfusedPair> MostConfused { get; }
    /// <summary>Whether tiles are originals (the evaluated images have source groups) or single images.</summary>
    public bool ByOriginal { get; }
    public int Images => Tiles.Sum(t => t.Images);
    /// <summary>Whether the images carry a label-issue search's flags.</summary>
    public bool HasLabelIssues { get; private init; }

    /// <summary>The model's reject threshold the tiles count "Unidentified" copies under (0: none).</summary>
    public double RejectThreshold { get; private init; }

    /// <summary>
    /// Builds the review: probabilities are softmax(logits / <paramref name="temperature"/>). Tiles are originals when any
    /// image has a group (an image without one is a tile of its own), else images.
    /// </summary>
    /// <param name="rejectThreshold">The model's reject threshold (0: none), for each tile's "Unidentified" count.</param>
    public static ReviewQueue Build(IReadOnlyList<string> labels, IReadOnlyList<ReviewImage> images, double temperature, double rejectThreshold = 0)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(images);
        if (labels.Count < 2) throw new ArgumentException("Review needs at least two classes.", nameof(labels));
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), "The temperature must be positive.");
        int classes = labels.Count;
        foreach (var image in images)
        {
            if (image.Label < 0 || image.Label >= classes) throw new ArgumentException($"Image {image.Key} has label {image.Label}, outside the {classes} classes.");
            if (image.Logits.Length != classes) throw new ArgumentException($"Image {image.Key} has {image.Logits.Length} logits for {classes} classes.");
        }

        bool byOriginal = images.Any(i => i.Group is not null);
        var tiles = images
            .Select(i => (Image: i, Copy: Copy(i, temperature)))
            .GroupBy(x => x.Image.Group is { } g ? $"g{g}:{x.Image.Label}" : x.Image.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var first = g.First().Image;
                return new ReviewTile(g.Key, first.Group, first.Label, g.Select(x => x.Copy).OrderByDescending(c => c.Loss).ThenBy(c => c.Key, StringComparer.Ordinal).ToList(), classes, rejectThreshold);
            })
            .ToList();

        var confused = new List<ConfusedPair>();
        for (int a = 0; a < classes; a++)
        for (int p = 0; p < classes; p++)
        {
            if (a == p) continue;
            int imagesCalled = 0, originals = 0;
            foreach (var t in tiles.Where(t => t.Label == a && t.CalledAs[p] > 0))
            {
                imagesCalled += t.CalledAs[p];
                originals++;
            }
            if (imagesCalled > 0) confused.Add(new ConfusedPair(a, p, imagesCalled, originals));
        }
        confused.Sort((x, y) => y.Images != x.Images ? y.Images.CompareTo(x.Images) : (x.Actual, x.Predicted).CompareTo((y.Actual, y.Predicted)));
        return new ReviewQueue(labels, tiles, confused, byOriginal) { HasLabelIssues = images.Any(i => i.Flagged), RejectThreshold = rejectThreshold };
    }

    /// <summary>The focus pairs (<see cref="FocusPairNames"/>) this evaluation's classes allow, as class indices.</summary>
    public IReadOnlyList<(int Actual, int Predicted)> FocusPairs()
    {
        int Index(string name)
        {
            for (int i = 0; i < Labels.Count; i++) if (string.Equals(Labels[i], name, StringComparison.OrdinalIgnoreCase)) return i;
            return -1;
        }
        return FocusPairNames.Select(p => (Index(p.Actual), Index(p.Predicted))).Where(p => p.Item1 >= 0 && p.Item2 >= 0).ToList();
    }

    /// <summary>How many images and originals of class <paramref name="actual"/> the model calls <paramref name="predicted"/>.</summary>
    public ConfusedPair Pair(int actual, int predicted) =>
        MostConfused.FirstOrDefault(p => p.Actual == actual && p.Predicted == predicted) ?? new ConfusedPair(actual, predicted, 0, 0);

    /// <summary>The tiles a query asks for, in its order (ties broken by tile id, so the order repeats).</summary>
    public IReadOnlyList<ReviewTile> Select(ReviewQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate(Labels.Count);
        var chosen = query.Filter switch
        {
            ReviewFilter.Mistakes => Tiles.Where(t => t.Wrong > 0),
            ReviewFilter.Pair => Tiles.Where(t => t.Shows(query.Actual, query.Predicted)),
            ReviewFilter.LowConfidence => Tiles.Where(t => t.Confidence < query.Threshold),
            ReviewFilter.LabelIssues => Tiles.Where(t => t.Flagged * 2 > t.Images),
            _ => Tiles,
        };
        return (query.Sort switch
        {
            ReviewSort.ConfidenceLow => chosen.OrderBy(t => t.Confidence),
            ReviewSort.ConfidenceHigh => chosen.OrderByDescending(t => t.Confidence),
            _ => chosen.OrderByDescending(t => t.Loss),
        }).ThenBy(t => t.Id, StringComparer.Ordinal).ToList();
    }

    private static ReviewCopy Copy(ReviewImage image, double temperature)
    {
        var p = Calibration.Softmax(image.Logits, temperature);
        return new ReviewCopy(image.Key, image.Label, Compute.VectorMath.Argmax(image.Logits), p, image.Flagged);
    }
}
