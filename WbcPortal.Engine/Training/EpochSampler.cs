namespace WbcPortal.Engine.Training;

/// <summary>What one training epoch passes over.</summary>
public enum SamplingMode
{
    /// <summary>Every stored image once (the dataset's augmented copies weigh a cell by how often its authors copied it).</summary>
    EveryCopy,
    /// <summary>A set number of views per original (source group), classes balanced by originals; each view is a random copy, freshly augmented.</summary>
    ByOriginal,
}

/// <summary>How an epoch draws its training images.</summary>
public sealed record SamplingConfig
{
    public SamplingMode Mode { get; init; } = SamplingMode.EveryCopy;
    /// <summary>With <see cref="SamplingMode.ByOriginal"/>: views drawn per original and epoch, on average.</summary>
    public int ViewsPerOriginal { get; init; } = 8;
    /// <summary>With <see cref="SamplingMode.ByOriginal"/>: every class gets the same number of views (spread over its originals), so a class counts by classes, not by how many originals or copies it has.</summary>
    public bool BalanceClasses { get; init; } = true;

    public void Validate()
    {
        if (!Enum.IsDefined(Mode)) throw new ArgumentException("Sampling must be everyCopy or byOriginal.");
        if (ViewsPerOriginal is < 1 or > 1000) throw new ArgumentException("Views per original must be 1 to 1000.");
    }
}

/// <summary>
/// Draws one epoch's training list. By original: images are gathered by (class, source group); an image without a group is
/// an original of its own. The epoch holds <c>ViewsPerOriginal x originals</c> views; balanced, each class gets an equal share
/// of them, dealt evenly over its originals, and each view is a copy of the original taken in turn from a shuffled order (so an
/// original's copies are all used before one repeats). The list depends only on (seed, round, epoch): a resumed run draws the same.
/// A view repeated in one epoch is augmented afresh (the loader's random stream is drawn from its position).
/// </summary>
public static class EpochSampler
{
    public static IReadOnlyList<LabeledImage> Draw(IReadOnlyList<LabeledImage> train, SamplingConfig sampling, int seed, int round, int epoch)
    {
        if (sampling.Mode == SamplingMode.EveryCopy || train.Count == 0) return train;
        var random = new Random((int)(Trainer.EpochSeed(seed, 7000 + round, epoch) & 0x7fffffff));
        var originals = train
            .GroupBy(i => (i.Label, Group: i.Group is int g ? "g" + g.ToString(System.Globalization.CultureInfo.InvariantCulture) : "k" + i.Key))
            .OrderBy(g => g.Key.Label).ThenBy(g => g.Key.Group, StringComparer.Ordinal)
            .Select(g => g.OrderBy(i => i.Key, StringComparer.Ordinal).ToArray())
            .ToList();
        int total = sampling.ViewsPerOriginal * originals.Count;
        var byClass = originals.GroupBy(o => o[0].Label).OrderBy(g => g.Key).ToList();
        var result = new List<LabeledImage>(total + byClass.Count);
        foreach (var cls in byClass)
        {
            var members = cls.ToArray();
            int quota = sampling.BalanceClasses
                ? (int)Math.Round((double)total / byClass.Count)
                : sampling.ViewsPerOriginal * members.Length;
            random.Shuffle(members);
            for (int o = 0; o < members.Length; o++)
            {
                int views = quota / members.Length + (o < quota % members.Length ? 1 : 0);
                var copies = members[o].ToArray();
                random.Shuffle(copies);
                for (int v = 0; v < views; v++) result.Add(copies[v % copies.Length]);
            }
        }
        return result;
    }
}
