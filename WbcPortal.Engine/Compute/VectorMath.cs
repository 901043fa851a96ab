using System.Numerics;

namespace WbcPortal.Engine.Compute;

/// <summary>SIMD helpers for the small dense vectors of features and linear heads.</summary>
public static class VectorMath
{
    /// <summary>The dot product of two vectors of the same length, accumulated in single precision per lane, summed in double.</summary>
    public static double Dot(float[] a, float[] b)
    {
        var sum = Vector<float>.Zero;
        int j = 0;
        for (; j <= a.Length - Vector<float>.Count; j += Vector<float>.Count) sum += new Vector<float>(a, j) * new Vector<float>(b, j);
        double total = Vector.Sum(sum);
        for (; j < a.Length; j++) total += a[j] * b[j];
        return total;
    }

    /// <summary>The index of the largest value (the first of equal ones): the predicted class of logits or probabilities.</summary>
    public static int Argmax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    /// <inheritdoc cref="Argmax(ReadOnlySpan{float})"/>
    public static int Argmax(ReadOnlySpan<double> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary><paramref name="target"/> += <paramref name="scale"/> × <paramref name="x"/>.</summary>
    public static void AddScaled(float[] target, float[] x, float scale)
    {
        var s = new Vector<float>(scale);
        int j = 0;
        for (; j <= x.Length - Vector<float>.Count; j += Vector<float>.Count) (new Vector<float>(target, j) + s * new Vector<float>(x, j)).CopyTo(target, j);
        for (; j < x.Length; j++) target[j] += scale * x[j];
    }
}
