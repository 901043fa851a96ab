using WbcPortal.Engine.Datasets.Splitting;

namespace WbcPortal.Tests.Engine.Datasets;

public class GroupFoldsTests
{
    /// <summary>Kaggle-like: per class a number of originals, each with a seeded, uneven number of copies.</summary>
    private static List<SplitItem> Items(int seed = 3)
    {
        var rng = new Random(seed);
        var items = new List<SplitItem>();
        int id = 0, group = 0;
        foreach (var (cls, groups, maxCopies) in new[] { ("EOSINOPHIL", 30, 40), ("LYMPHOCYTE", 12, 90), ("MONOCYTE", 7, 150), ("NEUTROPHIL", 60, 20) })
        {
            for (int g = 0; g < groups; g++, group++)
            {
                int copies = rng.Next(1, maxCopies + 1);
                for (int c = 0; c < copies; c++) items.Add(new SplitItem(id++, cls, group, null));
            }
        }
        return items;
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    public void Every_image_is_tested_exactly_once_and_no_group_sits_in_two_folds(int k)
    {
        var items = Items();
        var folds = GroupFolds.Assign(items, k, seed: 7);
        Assert.Equal(items.Select(i => i.Id).Order(), folds.Keys.Order());
        Assert.All(folds.Values, f => Assert.InRange(f, 0, k - 1));
        Assert.All(items.GroupBy(i => i.Group), g => Assert.Single(g.Select(i => folds[i.Id]).Distinct()));

        var tested = items.ToDictionary(i => i.Id, _ => 0);
        for (int f = 0; f < k; f++)
        {
            var parts = GroupFolds.PartsOf(folds, f, k);
            foreach (var (id, part) in parts) if (part == SplitParts.Test) tested[id]++;
            // fold f tests, fold f+1 validates, the others train; no group on two sides
            Assert.All(parts, p => Assert.Equal(folds[p.Key] == f ? SplitParts.Test : folds[p.Key] == (f + 1) % k ? SplitParts.Val : SplitParts.Train, p.Value));
            Assert.All(items.GroupBy(i => i.Group), g => Assert.Single(g.Select(i => parts[i.Id]).Distinct()));
            Assert.All(SplitParts.All, part => Assert.Contains(part, parts.Values));
        }
        Assert.All(tested.Values, n => Assert.Equal(1, n));
    }

    [Fact]
    public void Each_class_is_spread_over_the_folds_within_one_original()
    {
        var items = Items();
        const int k = 5;
        var folds = GroupFolds.Assign(items, k, seed: 11);
        foreach (var cls in items.GroupBy(i => i.ClassName))
        {
            int largest = cls.GroupBy(i => i.Group).Max(g => g.Count());
            double share = cls.Count() / (double)k;
            for (int f = 0; f < k; f++)
            {
                int n = cls.Count(i => folds[i.Id] == f);
                Assert.True(Math.Abs(n - share) <= largest, $"{cls.Key} fold {f}: {n} images, fair share {share:0.#}, largest original {largest}");
                Assert.True(n > 0, $"{cls.Key} fold {f} tests none of the class");
            }
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_folds_and_another_seed_other_folds()
    {
        var items = Items();
        Assert.Equal(GroupFolds.Assign(items, 5, 42), GroupFolds.Assign(items, 5, 42));
        Assert.NotEqual(GroupFolds.Assign(items, 5, 42), GroupFolds.Assign(items, 5, 43));
    }

    [Fact]
    public void More_folds_than_a_class_has_originals_are_refused_naming_the_class_and_the_largest_k()
    {
        var items = Items(); // MONOCYTE has 7 originals
        var ex = Assert.Throws<ArgumentException>(() => GroupFolds.Assign(items, 8, 1));
        Assert.Contains("MONOCYTE has 7", ex.Message);
        Assert.Contains("at most 7 folds", ex.Message);
        Assert.Throws<ArgumentException>(() => GroupFolds.Assign(items, 2, 1));
        Assert.Throws<ArgumentException>(() => GroupFolds.Assign(items, 11, 1));
    }
}
