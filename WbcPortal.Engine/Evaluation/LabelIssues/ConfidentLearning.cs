namespace WbcPortal.Engine.Evaluation.LabelIssues;

/// <summary>
/// Confident learning (Northcutt, Jiang and Chuang 2021; cleanlab's <c>find_label_issues</c> with
/// <c>filter_by="confident_learning"</c>): from out-of-sample probabilities, each class's threshold is the mean
/// probability of that class over the images labelled with it. An image is counted in the confident joint under the
/// class, among those it reaches the threshold of, that it is most probable; an image whose confident class is not its
/// label, and whose most probable class is not its label either, is a label issue. Issues are ranked by self-confidence, the probability of the given label (lowest first).
/// </summary>
public static class ConfidentLearning
{
    public sealed record Result(IReadOnlyList<double> Thresholds, int[][] ConfidentJoint, IReadOnlyList<bool> Issue, IReadOnlyList<int> Suggested);

    public static Result Find(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels, int classes)
    {
        if (probabilities.Count != labels.Count) throw new ArgumentException("One label per row of probabilities.");
        var thresholds = new double[classes];
        var counts = new int[classes];
        for (int i = 0; i < labels.Count; i++)
        {
            thresholds[labels[i]] += probabilities[i][labels[i]];
            counts[labels[i]]++;
        }
        for (int k = 0; k < classes; k++) thresholds[k] = counts[k] == 0 ? 1 : thresholds[k] / counts[k];

        var joint = Enumerable.Range(0, classes).Select(_ => new int[classes]).ToArray();
        var issue = new bool[labels.Count];
        var suggested = new int[labels.Count];
        for (int i = 0; i < labels.Count; i++)
        {
            var p = probabilities[i];
            int confident = -1;
            for (int k = 0; k < classes; k++)
                if (p[k] >= thresholds[k] && (confident < 0 || p[k] > p[confident])) confident = k;
            // The most probable other class: what a reviewer would relabel it to.
            int other = -1;
            for (int k = 0; k < classes; k++)
                if (k != labels[i] && (other < 0 || p[k] > p[other])) other = k;
            suggested[i] = other;
            if (confident < 0) continue;
            joint[labels[i]][confident]++;
            // As cleanlab: an image whose most probable class is its label is not an issue, whatever the thresholds say.
            issue[i] = confident != labels[i] && Compute.VectorMath.Argmax(p) != labels[i];
            if (issue[i]) suggested[i] = confident;
        }
        return new Result(thresholds, joint, issue, suggested);
    }
}
