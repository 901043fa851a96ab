namespace WbcPortal.Engine.Training;

/// <summary>One batch's mixup: the share λ of each image kept and the image it is mixed with (a permutation of the batch).</summary>
public sealed record Mixup(double Lambda, long[] Partner)
{
    /// <summary>λ ~ Beta(α, α), folded to at least ½ (each image stays the larger part of its mix), and a random partner per image.</summary>
    public static Mixup Draw(double alpha, int count, Random random)
    {
        double a = Gamma(alpha, random), b = Gamma(alpha, random);
        double lambda = a + b > 0 ? a / (a + b) : 1;
        lambda = Math.Max(lambda, 1 - lambda);
        var partner = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
        random.Shuffle(partner);
        return new Mixup(lambda, partner);
    }

    /// <summary>Gamma(shape, 1) by Marsaglia and Tsang (shape below 1 boosted by U^(1/shape)).</summary>
    internal static double Gamma(double shape, Random random)
    {
        if (shape < 1) return Gamma(shape + 1, random) * Math.Pow(random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                // Box-Muller normal.
                x = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }
}
