using WbcPortal.Engine.Evaluation.LabelIssues;

namespace WbcPortal.Tests.Engine.LabelIssues;

/// <summary>Confident learning on group-fold probabilities finds whole originals filed under the wrong class.</summary>
public class LabelIssueFinderTests
{
    private static readonly string[] Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Confident_learning_counts_a_confident_other_class_as_an_issue()
    {
        // Class 0's threshold is mean p0 over label-0 rows = (0.9 + 0.8 + 0.1) / 3 = 0.6; class 1's = (0.9 + 0.7) / 2 = 0.8.
        double[][] p = [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.1, 0.9], [0.3, 0.7]];
        int[] y = [0, 0, 0, 1, 1];
        var r = ConfidentLearning.Find(p, y, 2);

        Assert.Equal(0.6, r.Thresholds[0], 9);
        Assert.Equal(0.8, r.Thresholds[1], 9);
        Assert.Equal([false, false, true, false, false], r.Issue);
        Assert.Equal(1, r.Suggested[2]);
        // Row 4 (p1 = 0.7) reaches no threshold: it is not counted in the joint at all.
        Assert.Equal([[2, 1], [0, 1]], r.ConfidentJoint);
    }

    [Fact]
    public void An_image_whose_most_probable_class_is_its_label_is_no_issue_whatever_the_thresholds()
    {
        // Class 1's images look like class 0 (threshold 0.25), so [0.6, 0.4] reaches class 1's threshold and not class 0's
        // (0.83): its confident class is 1, but the model still finds its label 0 most probable. cleanlab does not flag it.
        double[][] p = [[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.9, 0.1], [0.6, 0.4]];
        int[] y = [0, 0, 0, 1, 1];
        var r = ConfidentLearning.Find(p, y, 2);
        Assert.Equal(1, r.ConfidentJoint[0][1]);
        Assert.False(r.Issue[2]);
        Assert.True(r.Issue[3]);
    }

    [Fact]
    public void A_linear_head_separates_separable_classes()
    {
        var rng = new Random(1);
        var (x, y) = Clusters(rng, classes: 3, perClass: 40, dim: 16, spread: 0.3);
        var p = SoftmaxRegression.FitPredict(x, y, x, 3, cancellationToken: Ct);
        double accuracy = p.Select((row, i) => Array.IndexOf(row, row.Max()) == y[i] ? 1 : 0).Average();
        Assert.True(accuracy > 0.97, $"accuracy {accuracy:P1}");
        Assert.All(p, row => Assert.Equal(1, row.Sum(), 6));
        Assert.Throws<ArgumentException>(() => SoftmaxRegression.FitPredict([], [], x, 3, cancellationToken: Ct));
    }

    [Fact]
    public void Moved_originals_rank_first_and_are_flagged_and_a_stray_original_is_an_outlier()
    {
        var rng = new Random(7);
        var centres = Enumerable.Range(0, 4).Select(_ => Vector(rng, 32, 1)).ToArray();
        var inputs = new List<LabelIssueInput>();
        int id = 1, group = 1;
        var moved = new HashSet<int>();
        for (int c = 0; c < 4; c++)
        {
            for (int o = 0; o < 12; o++, group++)
            {
                var cell = centres[c].Select(v => v + (float)(rng.NextDouble() - 0.5) * 0.6f).ToArray();
                // Two originals of each of classes 0 and 3 are filed under the other one.
                int label = (c, o) switch { (0, < 2) => 3, (3, < 2) => 0, _ => c };
                if (label != c) moved.Add(group);
                for (int k = 0; k < 6; k++) inputs.Add(new(id++, group, label, cell.Select(v => v + (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray()));
            }
        }
        // An original unlike any cell.
        var stray = Vector(rng, 32, 6);
        for (int k = 0; k < 6; k++) inputs.Add(new(id++, group, 1, stray.Select(v => v + (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray()));
        int strayGroup = group;

        var report = LabelIssueFinder.Find(Labels, inputs, folds: 4, seed: 3, cancellationToken: Ct);

        Assert.Equal(inputs.Count, report.Images.Count);
        // The stray original's label is anyone's guess for a linear head: the ranking is judged without it.
        var cells = report.Originals.Where(o => o.Group != strayGroup).ToList();
        Assert.Equal(moved.Order(), cells.Take(4).Select(o => o.Group!.Value).Order());
        Assert.All(cells.Take(4), o => Assert.True(o.Likely));
        // Noisy labels pull the boundary: a true original near it may be doubted too, but fewer of them than were moved.
        Assert.True(cells.Skip(4).Count(o => o.Likely) < moved.Count);
        Assert.All(report.Originals.Where(o => moved.Contains(o.Group!.Value)), o => Assert.Equal(o.Label == 0 ? 3 : 0, o.Suggested));
        int movedImages = moved.Count * 6;
        // The issue's measure: every moved image within the top 2N of the image ranking (N = images moved).
        Assert.Equal(movedImages, report.Images.Where(i => i.Group != strayGroup).Take(2 * movedImages).Count(i => moved.Contains(i.Group!.Value)));
        Assert.Equal(movedImages, report.Images.Count(i => i.Issue && moved.Contains(i.Group!.Value)));
        Assert.Contains(report.Outliers, o => o.Group == strayGroup);
        Assert.True(report.OutOfFoldAccuracy > 0.8);
        // Every image was scored by a head whose folds did not hold its original.
        Assert.All(report.Images.GroupBy(i => i.Group), g => Assert.Single(g.Select(i => i.Fold).Distinct()));
    }

    [Fact]
    public void One_class_or_mismatched_features_are_refused()
    {
        Assert.Contains("two classes", Assert.Throws<ArgumentException>(() => LabelIssueFinder.Find(Labels, [new(1, 1, 0, [1f]), new(2, 2, 0, [2f])], 3, 1, cancellationToken: Ct)).Message);
        Assert.Contains("one length", Assert.Throws<ArgumentException>(() => LabelIssueFinder.Find(Labels, [new(1, 1, 0, [1f]), new(2, 2, 1, [2f, 3f])], 3, 1, cancellationToken: Ct)).Message);
    }

    private static float[] Vector(Random rng, int dim, double scale) => Enumerable.Range(0, dim).Select(_ => (float)((rng.NextDouble() - 0.5) * 2 * scale)).ToArray();

    private static (List<float[]> X, List<int> Y) Clusters(Random rng, int classes, int perClass, int dim, double spread)
    {
        var x = new List<float[]>();
        var y = new List<int>();
        for (int c = 0; c < classes; c++)
        {
            var centre = Vector(rng, dim, 1);
            for (int i = 0; i < perClass; i++)
            {
                x.Add(centre.Select(v => v + (float)((rng.NextDouble() - 0.5) * spread)).ToArray());
                y.Add(c);
            }
        }
        return (x, y);
    }
}
