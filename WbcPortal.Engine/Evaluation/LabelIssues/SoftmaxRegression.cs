using WbcPortal.Engine.Compute;

namespace WbcPortal.Engine.Evaluation.LabelIssues;

/// <summary>Options of the linear head fitted per fold on frozen features.</summary>
public sealed record SoftmaxRegressionOptions(int Iterations = 200, double LearningRate = 0.5, double Momentum = 0.9, double L2 = 1e-3)
{
    public static SoftmaxRegressionOptions Default { get; } = new();

    public void Validate()
    {
        if (Iterations is < 1 or > 10_000) throw new ArgumentException("Iterations are 1 to 10,000.");
        if (!(LearningRate > 0) || !(Momentum is >= 0 and < 1) || !(L2 >= 0)) throw new ArgumentException("The learning rate is positive, the momentum in [0, 1) and L2 not negative.");
    }
}

/// <summary>
/// Multinomial logistic regression on standardised features, class-balanced, fitted by full-batch gradient descent with
/// momentum: the "cheap mode" head of the label-issue search (a frozen backbone's features, one head per fold). Pure,
/// deterministic C#: the same inputs give the same probabilities on every machine.
/// </summary>
public static class SoftmaxRegression
{
    /// <summary>Fits on (<paramref name="trainX"/>, <paramref name="trainY"/>) and returns the probabilities of every class for each row of <paramref name="testX"/>.</summary>
    public static double[][] FitPredict(IReadOnlyList<float[]> trainX, IReadOnlyList<int> trainY, IReadOnlyList<float[]> testX, int classes,
        SoftmaxRegressionOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= SoftmaxRegressionOptions.Default;
        options.Validate();
        if (trainX.Count == 0) throw new ArgumentException("Nothing to fit on.");
        if (trainX.Count != trainY.Count) throw new ArgumentException("One label per training row.");
        int d = trainX[0].Length, n = trainX.Count;

        // Standardise with the training rows' mean and spread.
        var mean = new float[d];
        var scale = new float[d];
        foreach (var x in trainX) for (int j = 0; j < d; j++) mean[j] += x[j] / n;
        foreach (var x in trainX) for (int j = 0; j < d; j++) scale[j] += (x[j] - mean[j]) * (x[j] - mean[j]) / n;
        for (int j = 0; j < d; j++) scale[j] = scale[j] > 1e-12f ? 1f / MathF.Sqrt(scale[j]) : 0f;
        float[] Standard(float[] x)
        {
            var z = new float[d];
            for (int j = 0; j < d; j++) z[j] = (x[j] - mean[j]) * scale[j];
            return z;
        }
        var train = trainX.Select(Standard).ToArray();

        // Class-balanced weights: every class counts as much in the loss, however many images it has.
        var counts = new int[classes];
        foreach (int y in trainY) counts[y]++;
        int present = counts.Count(c => c > 0);
        var weight = counts.Select(c => c == 0 ? 0.0 : n / (double)(present * c)).ToArray();

        var w = new float[classes][];
        var v = new float[classes][];
        for (int k = 0; k < classes; k++) { w[k] = new float[d]; v[k] = new float[d]; }
        var b = new double[classes];
        var vb = new double[classes];
        var grad = new float[classes][];
        for (int k = 0; k < classes; k++) grad[k] = new float[d];
        var logits = new double[classes];
        for (int it = 0; it < options.Iterations; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var g in grad) Array.Clear(g);
            var gb = new double[classes];
            for (int i = 0; i < n; i++)
            {
                var x = train[i];
                for (int k = 0; k < classes; k++) logits[k] = VectorMath.Dot(w[k], x) + b[k];
                Softmax(logits);
                double wi = weight[trainY[i]] / n;
                for (int k = 0; k < classes; k++)
                {
                    float r = (float)(wi * (logits[k] - (k == trainY[i] ? 1 : 0)));
                    if (r == 0) continue;
                    VectorMath.AddScaled(grad[k], x, r);
                    gb[k] += r;
                }
            }
            float lr = (float)options.LearningRate, mu = (float)options.Momentum, l2 = (float)options.L2;
            for (int k = 0; k < classes; k++)
            {
                var wk = w[k];
                var vk = v[k];
                var gk = grad[k];
                for (int j = 0; j < d; j++)
                {
                    vk[j] = mu * vk[j] - lr * (gk[j] + l2 * wk[j]);
                    wk[j] += vk[j];
                }
                vb[k] = options.Momentum * vb[k] - options.LearningRate * gb[k];
                b[k] += vb[k];
            }
        }

        var result = new double[testX.Count][];
        for (int i = 0; i < testX.Count; i++)
        {
            var x = Standard(testX[i]);
            var p = new double[classes];
            for (int k = 0; k < classes; k++) p[k] = VectorMath.Dot(w[k], x) + b[k];
            Softmax(p);
            result[i] = p;
        }
        return result;
    }

    private static void Softmax(double[] z)
    {
        double max = z.Max(), sum = 0;
        for (int k = 0; k < z.Length; k++) { z[k] = Math.Exp(z[k] - max); sum += z[k]; }
        for (int k = 0; k < z.Length; k++) z[k] /= sum;
    }
}
