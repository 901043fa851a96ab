using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Splitting.LeakCheck;

/// <summary>An image of a split to check: its dataset image id, its part, the stored file, and a key (the file's sha) that
/// lets images with identical content share one signature.</summary>
public sealed record LeakCheckInput(int Id, string Part, string Path, string? Key = null);

/// <summary>A cross-part pair found by the search, by index into the inputs (A in the earlier part: train, val, test).</summary>
public readonly record struct LeakCandidate(int A, int B, double Distance);

public sealed record LeakCheckOptions
{
    /// <summary>
    /// A pair closer than this (1 - best normalised cross-correlation of the polar images) is a suspect. Chosen on the
    /// Kaggle TRAIN set (see README, "Leak check"): copies of one cell sit far below it, different cells far above.
    /// </summary>
    public double Threshold { get; init; } = 0.25;

    /// <summary>Nearest candidates (by the invariant ring spectra) each held-out image is aligned with.</summary>
    public int Candidates { get; init; } = 12;

    /// <summary>0: all cores.</summary>
    public int Threads { get; init; }

    public static LeakCheckOptions Default { get; } = new();
}

/// <summary>
/// The independent leak check of a split: an image-level near-duplicate search across its parts that uses neither the
/// source groups nor the grouper's descriptors. Every image gets a <see cref="PolarSignature"/>; each validation image is
/// compared with train, each test image with train and validation: the nearest <see cref="LeakCheckOptions.Candidates"/>
/// by rotation- and flip-invariant ring spectra, then each candidate aligned (best rotation and flip) and kept as a
/// suspect pair when closer than <see cref="LeakCheckOptions.Threshold"/>. Parallel and cancellable; memory is
/// <see cref="PolarSignature.Bytes"/> (~4 KB) per image plus the pairs kept.
/// </summary>
public sealed class LeakChecker(LeakCheckOptions options)
{
    public const string MethodName = "polar-ncc-v1";

    public LeakCheckOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    private int Threads => Options.Threads > 0 ? Options.Threads : Environment.ProcessorCount;

    public string Method => FormattableString.Invariant(
        $"{MethodName}: nucleus-centred polar image ({PolarSignature.Rings} rings x {PolarSignature.Sectors} sectors, brightness and stain), normalised cross-correlation at the best rotation and flip; {Options.Candidates} nearest candidates per held-out image; across parts only");

    /// <summary>Signatures and search in one go: progress 0-0.85 for the signatures, then the search.</summary>
    public LeakCheckReport Check(IReadOnlyList<LeakCheckInput> inputs, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var watch = Stopwatch.StartNew();
        var signatures = Signatures(inputs, progress is null ? null : new InlineProgress(p => progress.Report(0.85 * p)), cancellationToken);
        var pairs = Search(inputs, signatures, Options.Threshold, progress is null ? null : new InlineProgress(p => progress.Report(0.85 + 0.15 * p)), cancellationToken);
        progress?.Report(1);
        return Report(inputs, signatures, pairs, watch.Elapsed.TotalSeconds);
    }

    /// <summary>The report of pairs found at or under the threshold: all counted, the closest <see cref="LeakCheckReport.PairsKept"/> listed.</summary>
    public LeakCheckReport Report(IReadOnlyList<LeakCheckInput> inputs, IReadOnlyList<PolarSignature?> signatures, IReadOnlyList<LeakCandidate> pairs, double seconds)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(signatures);
        ArgumentNullException.ThrowIfNull(pairs);
        var suspects = pairs.Where(p => p.Distance <= Options.Threshold).ToList();
        var kept = suspects.OrderBy(p => p.Distance).ThenBy(p => inputs[p.A].Id).ThenBy(p => inputs[p.B].Id).Take(LeakCheckReport.PairsKept)
            .Select(p => new SuspectPair(inputs[p.A].Id, inputs[p.A].Part, inputs[p.B].Id, inputs[p.B].Part, Math.Round(p.Distance, 4))).ToList();
        // An input with no part (an image the split does not hold) is neither checked nor held out.
        bool InSplit(int i) => SplitParts.All.Contains(inputs[i].Part);
        bool HeldOut(int i) => inputs[i].Part is SplitParts.Val or SplitParts.Test;
        var flagged = suspects.SelectMany(p => new[] { p.A, p.B }).Where(HeldOut).Distinct().Count();
        var inSplit = Enumerable.Range(0, inputs.Count).Where(InSplit).ToList();
        return new LeakCheckReport(Method, Options.Threshold, inSplit.Count(i => signatures[i] is not null), suspects.Count, kept, Math.Round(seconds, 2))
        {
            HeldOutFlagged = flagged,
            HeldOut = inSplit.Count(HeldOut),
            Unreadable = inSplit.Count(i => signatures[i] is null),
        };
    }

    /// <summary>Signatures of all inputs, in parallel; images with the same key share one; null for a file that cannot be read.</summary>
    public PolarSignature?[] Signatures(IReadOnlyList<LeakCheckInput> inputs, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        var source = new int[inputs.Count];
        var unique = new List<int>();
        for (int i = 0; i < inputs.Count; i++)
        {
            string key = inputs[i].Key ?? inputs[i].Path;
            if (first.TryGetValue(key, out int at)) { source[i] = at; continue; }
            first[key] = i;
            source[i] = i;
            unique.Add(i);
        }
        var result = new PolarSignature?[inputs.Count];
        int done = 0, step = Math.Max(1, unique.Count / 100);
        Parallel.For(0, unique.Count, new ParallelOptions { MaxDegreeOfParallelism = Threads, CancellationToken = cancellationToken }, u =>
        {
            int i = unique[u];
            try
            {
                using var image = Image.Load<Rgb24>(inputs[i].Path);
                result[i] = PolarSignature.Compute(image);
            }
            catch (Exception ex) when (ex is IOException or UnknownImageFormatException or InvalidImageContentException or ImageFormatException or NotSupportedException or UnauthorizedAccessException)
            {
                result[i] = null;
            }
            int d = Interlocked.Increment(ref done);
            if (progress is not null && d % step == 0) progress.Report((double)d / unique.Count);
        });
        for (int i = 0; i < inputs.Count; i++) result[i] ??= result[source[i]];
        return result;
    }

    /// <summary>
    /// Cross-part pairs at or under <paramref name="maxDistance"/>: each validation image against train, each test image
    /// against train and validation, its nearest candidates aligned. Each pair once, A in the earlier part.
    /// </summary>
    public IReadOnlyList<LeakCandidate> Search(IReadOnlyList<LeakCheckInput> inputs, IReadOnlyList<PolarSignature?> signatures, double maxDistance,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(signatures);
        if (signatures.Count != inputs.Count) throw new ArgumentException("one signature per input", nameof(signatures));
        int rank(string part) => part switch { SplitParts.Train => 0, SplitParts.Val => 1, SplitParts.Test => 2, _ => 3 };
        var ranks = inputs.Select(i => rank(i.Part)).ToArray();

        var valid = Enumerable.Range(0, inputs.Count).Where(i => signatures[i] is not null && ranks[i] < 3).ToArray();
        var index = new PolarCoarseIndex(valid.Select(i => signatures[i]!).ToList());
        var queries = Enumerable.Range(0, valid.Length).Where(v => ranks[valid[v]] > 0).ToArray();
        var found = new List<LeakCandidate>[queries.Length];
        int k = Math.Max(1, Options.Candidates);
        int done = 0, step = Math.Max(1, queries.Length / 100);
        Parallel.For(0, queries.Length, new ParallelOptions { MaxDegreeOfParallelism = Threads, CancellationToken = cancellationToken }, qi =>
        {
            int q = queries[qi];
            int qRank = ranks[valid[q]];
            Span<int> bestI = stackalloc int[k];
            index.Nearest(q, v => ranks[valid[v]] < qRank, bestI);
            var list = new List<LeakCandidate>();
            var qs = signatures[valid[q]]!;
            for (int c = 0; c < k && bestI[c] >= 0; c++)
            {
                int other = valid[bestI[c]];
                double distance = PolarSignature.Distance(signatures[other]!, qs);
                if (distance <= maxDistance) list.Add(new LeakCandidate(other, valid[q], distance));
            }
            found[qi] = list;
            int n = Interlocked.Increment(ref done);
            if (progress is not null && n % step == 0) progress.Report((double)n / queries.Length);
        });
        return found.SelectMany(f => f).ToList();
    }

    private sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
