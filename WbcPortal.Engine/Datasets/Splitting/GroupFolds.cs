namespace WbcPortal.Engine.Datasets.Splitting;

/// <summary>
/// Group k-fold, stratified by class: every source group (original) goes whole into one of K folds, and each class's
/// images are spread over the folds as evenly as whole groups allow. Fold <c>i</c> is then a cross-validation round's
/// test part, fold <c>(i + 1) mod K</c> its validation part, the other K - 2 folds its train part
/// (<see cref="PartsOf"/>), so every image is tested exactly once and no original is ever on two sides.
/// </summary>
public static class GroupFolds
{
    public const int MinFolds = 3;
    public const int MaxFolds = 10;

    /// <summary>
    /// The fold (0-based) of every image id. Per class, the class's groups go largest first to the fold holding the fewest
    /// of that class's images so far (ties: the fold with fewest images, then a seeded order), so each fold's count of a
    /// class is within one group of an equal share; groups of equal size are drawn in a seeded order, so seeds differ.
    /// A group whose images carry several classes counts as its majority class.
    /// </summary>
    /// <exception cref="ArgumentException">K outside <see cref="MinFolds"/>..<see cref="MaxFolds"/>, or a class with fewer source
    /// groups than K (some fold would test none of it); the message names the class and the largest K it allows.</exception>
    public static IReadOnlyDictionary<int, int> Assign(IReadOnlyList<SplitItem> items, int k, int seed)
    {
        if (k is < MinFolds or > MaxFolds) throw new ArgumentException($"Cross-validation needs {MinFolds} to {MaxFolds} folds; got {k}.");
        if (items.Count == 0) throw new ArgumentException("There are no images to cross-validate.");
        var groups = items.GroupBy(i => i.Group).OrderBy(g => g.Key)
            .Select(g => (Ids: g.Select(i => i.Id).ToList(),
                ClassName: g.GroupBy(i => i.ClassName).OrderByDescending(c => c.Count()).ThenBy(c => c.Key, StringComparer.Ordinal).First().Key))
            .ToList();
        var byClass = groups.GroupBy(g => g.ClassName).OrderBy(c => c.Key, StringComparer.Ordinal).ToList();
        if (byClass.Count < 2) throw new ArgumentException("Cross-validation needs at least two classes.");
        var thin = byClass.Where(c => c.Count() < k).OrderBy(c => c.Count()).ThenBy(c => c.Key, StringComparer.Ordinal).ToList();
        if (thin.Count > 0)
        {
            int most = thin.Min(c => c.Count());
            throw new ArgumentException($"{k} folds need at least {k} source groups (originals) in every class, so that every fold tests every class: " +
                string.Join(", ", thin.Select(c => $"{c.Key} has {c.Count()}")) +
                (most >= MinFolds ? $". Choose at most {most} folds." : $". Cross-validation needs at least {MinFolds} originals per class; add originals of that class."));
        }

        var rng = new Random(seed);
        var foldRank = Enumerable.Range(0, k).ToArray();
        rng.Shuffle(foldRank); // which fold wins a tie, so the first groups do not always fill fold 0
        var foldTotals = new int[k];
        var fold = new Dictionary<int, int>(items.Count);
        foreach (var cls in byClass)
        {
            var units = cls.ToArray();
            rng.Shuffle(units);
            var classCounts = new int[k];
            foreach (var unit in units.OrderByDescending(u => u.Ids.Count)) // stable: equal sizes keep the seeded order
            {
                int best = Enumerable.Range(0, k).OrderBy(f => classCounts[f]).ThenBy(f => foldTotals[f]).ThenBy(f => foldRank[f]).First();
                classCounts[best] += unit.Ids.Count;
                foldTotals[best] += unit.Ids.Count;
                foreach (var id in unit.Ids) fold[id] = best;
            }
        }
        return fold;
    }

    /// <summary>The part of each image in cross-validation round <paramref name="testFold"/> (0-based): that fold tests, the next validates, the rest train.</summary>
    public static Dictionary<int, string> PartsOf(IReadOnlyDictionary<int, int> folds, int testFold, int k)
    {
        if (testFold < 0 || testFold >= k) throw new ArgumentOutOfRangeException(nameof(testFold));
        int valFold = (testFold + 1) % k;
        return folds.ToDictionary(f => f.Key, f => f.Value == testFold ? SplitParts.Test : f.Value == valFold ? SplitParts.Val : SplitParts.Train);
    }

    /// <summary>The nominal part shares of a K-fold round: (K - 2) / K train, 1 / K validation, 1 / K test.</summary>
    public static SplitRatios Ratios(int k) => new((k - 2) / (double)k, 1 / (double)k, 1 / (double)k);
}
