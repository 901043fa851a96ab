namespace WbcPortal.Engine.Evaluation;

/// <summary>Precision, recall, F1 and support of one class.</summary>
public sealed record ClassMetrics(string Label, double Precision, double Recall, double F1, int Support, int Predicted);

/// <summary>
/// A confusion matrix: rows are actual classes, columns predicted (ML.NET's convention), with the
/// metrics derived from it. A class nobody predicted has precision 0 (not NaN); a class with no
/// samples has recall 0 and does not count in the macro average.
/// </summary>
public sealed class ClassificationMetrics
{
    public ClassificationMetrics(IReadOnlyList<string> labels, int[,] confusion)
    {
        if (confusion.GetLength(0) != labels.Count || confusion.GetLength(1) != labels.Count)
            throw new ArgumentException("The confusion matrix must be labels x labels.", nameof(confusion));
        Labels = labels;
        Confusion = confusion;
        int n = labels.Count;
        Total = 0;
        int correct = 0;
        var perClass = new List<ClassMetrics>();
        for (int c = 0; c < n; c++)
        {
            int support = 0, predicted = 0;
            for (int k = 0; k < n; k++)
            {
                support += confusion[c, k];
                predicted += confusion[k, c];
            }
            int tp = confusion[c, c];
            correct += tp;
            Total += support;
            double precision = predicted == 0 ? 0 : (double)tp / predicted;
            double recall = support == 0 ? 0 : (double)tp / support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perClass.Add(new ClassMetrics(labels[c], precision, recall, f1, support, predicted));
        }
        PerClass = perClass;
        Accuracy = Total == 0 ? 0 : (double)correct / Total;
        var present = perClass.Where(p => p.Support > 0).ToList();
        MacroPrecision = present.Count == 0 ? 0 : present.Average(p => p.Precision);
        MacroRecall = present.Count == 0 ? 0 : present.Average(p => p.Recall);
        MacroF1 = present.Count == 0 ? 0 : present.Average(p => p.F1);
        WeightedF1 = Total == 0 ? 0 : perClass.Sum(p => p.F1 * p.Support) / Total;
    }

    public IReadOnlyList<string> Labels { get; }
    public int[,] Confusion { get; }
    public int Total { get; }
    public double Accuracy { get; }
    public double MacroPrecision { get; }
    public double MacroRecall { get; }
    public double MacroF1 { get; }
    public double WeightedF1 { get; }
    public IReadOnlyList<ClassMetrics> PerClass { get; }

    public static ClassificationMetrics From(IReadOnlyList<string> labels, IEnumerable<(int Actual, int Predicted)> pairs)
    {
        var m = new int[labels.Count, labels.Count];
        foreach (var (a, p) in pairs) m[a, p]++;
        return new ClassificationMetrics(labels, m);
    }

    /// <summary>The confusion matrix as rows (actual) of counts.</summary>
    public int[][] Rows() => Enumerable.Range(0, Labels.Count).Select(r => Enumerable.Range(0, Labels.Count).Select(c => Confusion[r, c]).ToArray()).ToArray();
}
