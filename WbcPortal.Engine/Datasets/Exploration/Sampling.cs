namespace WbcPortal.Engine.Datasets.Exploration;

/// <summary>Seeded random samples per class: the same seed gives the same sample, in a stable order.</summary>
public static class Sampling
{
    public static IReadOnlyList<T> PerClass<T>(IEnumerable<T> items, Func<T, string> className, int perClass, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(perClass);
        var result = new List<T>();
        foreach (var group in items.GroupBy(className, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var members = group.ToArray();
            // A class's own generator: its sample does not change when another class gains images.
            // Not HashCode.Combine: it is randomised per process, and a seed must give the same sample after a restart.
            var rng = new Random(unchecked(seed * 16777619 ^ StableHash(group.Key)));
            int take = Math.Min(perClass, members.Length);
            for (int i = 0; i < take; i++)
            {
                int j = rng.Next(i, members.Length); // partial Fisher–Yates
                (members[i], members[j]) = (members[j], members[i]);
            }
            result.AddRange(members.Take(take));
        }
        return result;
    }

    private static int StableHash(string text)
    {
        unchecked
        {
            int hash = (int)2166136261;
            foreach (char c in text) hash = (hash ^ c) * 16777619;
            return hash;
        }
    }
}
