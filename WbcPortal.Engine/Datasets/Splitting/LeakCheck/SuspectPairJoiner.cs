using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Splitting.LeakCheck;

/// <summary>
/// Keeps the leak check's suspect pairs of a grouped split together: joins the source groups of every pair the check found
/// (across classes too: the same cell filed under two class folders, which groups cut within a class never join) and draws
/// again with the same seed, until the check finds nothing, a draw cannot be made (joined groups too large for the ratios:
/// the last good draw is kept), or <see cref="MaxRounds"/> draws. Joins only grow groups, so it ends.
/// </summary>
public sealed class SuspectPairJoiner(DatasetSplitter splitter, LeakChecker checker)
{
    public const int MaxRounds = 10;

    public (SplitResult Result, IReadOnlyList<LeakCandidate> Found, SuspectsKeptTogether Kept) KeepTogether(IReadOnlyList<SplitItem> items,
        IReadOnlyList<LeakCheckInput> inputs, IReadOnlyList<PolarSignature?> signatures, SplitResult result, IReadOnlyList<LeakCandidate> found,
        SplitRatios ratios, int seed, IReadOnlyList<(int A, int B)> nearDuplicatePairs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(inputs);
        var groupOf = items.ToDictionary(i => i.Id, i => i.Group);
        var ids = groupOf.Values.Distinct().ToList();
        var at = ids.Select((g, k) => (g, k)).ToDictionary(x => x.g, x => x.k);
        var union = new int[ids.Count];
        for (int k = 0; k < union.Length; k++) union[k] = k;
        int Find(int k) { while (union[k] != k) k = union[k] = union[union[k]]; return k; }
        int rounds = 0, acted = 0, joined = 0;
        var joins = new List<IReadOnlyList<int>>();
        int appliedJoins = 0;
        string? stopped = null;
        while (found.Count > 0)
        {
            if (rounds == MaxRounds)
            {
                stopped = $"still {found.Count:N0} suspect pair(s) after {rounds} draws";
                break;
            }
            int before = joined;
            foreach (var pair in found)
            {
                int a = Find(at[groupOf[inputs[pair.A].Id]]), b = Find(at[groupOf[inputs[pair.B].Id]]);
                if (a == b) continue;
                union[Math.Max(a, b)] = Math.Min(a, b);
                joined++;
                joins.Add([inputs[pair.A].Id, inputs[pair.B].Id]);
            }
            if (joined == before)
            {
                stopped = "the pairs left are already within one group";
                break;
            }
            cancellationToken.ThrowIfCancellationRequested();
            var regrouped = items.Select(i => i with { Group = ids[Find(at[i.Group])] }).ToList();
            SplitResult next;
            try
            {
                next = splitter.Split(regrouped, SplitStrategy.Grouped, ratios, seed, nearDuplicatePairs, grouped: true);
            }
            catch (ArgumentException ex)
            {
                stopped = $"the joined groups no longer fit the ratios ({ex.Message}); the previous draw is kept";
                break;
            }
            rounds++;
            acted += found.Count;
            appliedJoins = joins.Count;
            result = next;
            found = checker.Search(WithParts(inputs, result), signatures, checker.Options.Threshold, null, cancellationToken);
        }
        // Joins of a draw that could not be made were not applied: keep only those the stored draw used.
        var used = stopped is not null && stopped.StartsWith("the joined groups", StringComparison.Ordinal) ? joins.Take(appliedJoins).ToList() : joins;
        return (result, found, new SuspectsKeptTogether(rounds, acted, used.Count, stopped) { Joins = used });
    }

    /// <summary>The inputs with each image's part in <paramref name="result"/> (an image it does not hold: no part, left out of the search).</summary>
    public static List<LeakCheckInput> WithParts(IReadOnlyList<LeakCheckInput> inputs, SplitResult result)
    {
        var partOf = result.Assignments.ToDictionary(a => a.Id, a => a.Part);
        return inputs.Select(i => i with { Part = partOf.TryGetValue(i.Id, out var p) ? p : "" }).ToList();
    }
}
