using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using WbcPortal.Engine.Imaging;

namespace WbcPortal.Engine.Datasets.Grouping;

/// <summary>
/// Recovers which images are augmented copies of the same original ("source groups"). Each image gets a
/// <see cref="CellDescriptor"/> (invariant to rotation, shift, shear, flips and fill; computed in parallel); the
/// descriptors are standardised over the input and block-weighted; within each class (or over all images) an
/// average-linkage dendrogram is cut at <see cref="GroupingOptions.MergeDistance"/>. An optional second level merges
/// clusters whose nucleus looks the same (the same cell in overlapping fields of view). At the cautious margin a last stage,
/// <see cref="SameCellLinker"/>, also joins groups whose images match once aligned on the nucleus (<see cref="PolarSignature"/>):
/// originals cut from overlapping fields, which the descriptor keeps apart.
/// </summary>
public sealed class SourceGrouper(GroupingOptions options)
{
    /// <summary>Changes whenever the groups found for the same images change (descriptor, defaults, cut): datasets grouped by an older
    /// version can be flagged. 1: whole-frame descriptor; 2: fragment absorption; 3: exposure normalisation, shape cap, merge 1.5,
    /// cautious margin; 4: same-cell links (polar signatures) at the cautious margin.</summary>
    public const string Version = "4";

    public GroupingOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    private int Threads => Options.Threads > 0 ? Options.Threads : Environment.ProcessorCount;

    public GroupingResult Group(IReadOnlyList<GroupingInput> images, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var features = ExtractFeatures(images, progress is null ? null : new Progress<double>(p => progress.Report(p * 0.7)), cancellationToken);
        var signatures = Options.LinkDistance > 0
            ? ExtractSignatures(images, progress is null ? null : new Progress<double>(p => progress.Report(0.7 + p * 0.15)), cancellationToken)
            : null;
        var result = GroupFeatures(images, features, signatures, cancellationToken);
        progress?.Report(1);
        return result;
    }

    /// <summary>Descriptors of all images, in parallel; null for a file that cannot be decoded (it becomes a singleton).</summary>
    public float[]?[] ExtractFeatures(IReadOnlyList<GroupingInput> images, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var descriptor = new CellDescriptor { WhiteBalance = Options.WhiteBalance };
        var result = new float[]?[images.Count];
        int done = 0;
        int step = Math.Max(1, images.Count / 100);
        Parallel.For(0, images.Count, new ParallelOptions { MaxDegreeOfParallelism = Threads, CancellationToken = cancellationToken }, i =>
        {
            try
            {
                using var image = Image.Load<Rgb24>(images[i].Path);
                result[i] = descriptor.Compute(image);
            }
            catch (Exception ex) when (ex is IOException or UnknownImageFormatException or InvalidImageContentException or ImageFormatException or NotSupportedException or UnauthorizedAccessException)
            {
                result[i] = null;
            }
            int d = Interlocked.Increment(ref done);
            if (progress is not null && d % step == 0) progress.Report((double)d / images.Count);
        });
        return result;
    }

    /// <summary>Nucleus-centred polar signatures of all images, in parallel, for the same-cell links; null for a file that cannot be decoded.</summary>
    public PolarSignature?[] ExtractSignatures(IReadOnlyList<GroupingInput> images, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var result = new PolarSignature?[images.Count];
        int done = 0;
        int step = Math.Max(1, images.Count / 100);
        Parallel.For(0, images.Count, new ParallelOptions { MaxDegreeOfParallelism = Threads, CancellationToken = cancellationToken }, i =>
        {
            try
            {
                using var image = Image.Load<Rgb24>(images[i].Path);
                result[i] = PolarSignature.Compute(image);
            }
            catch (Exception ex) when (ex is IOException or UnknownImageFormatException or InvalidImageContentException or ImageFormatException or NotSupportedException or UnauthorizedAccessException)
            {
                result[i] = null;
            }
            int d = Interlocked.Increment(ref done);
            if (progress is not null && d % step == 0) progress.Report((double)d / images.Count);
        });
        return result;
    }

    /// <summary>
    /// <paramref name="groups"/> with every two groups joined whose images show the same cell: at least
    /// <see cref="GroupingOptions.LinkPairs"/> image pairs closer than <see cref="GroupingOptions.LinkDistance"/> once aligned on the
    /// nucleus (within a class when <see cref="GroupingOptions.WithinClass"/>). The links used join the near-duplicate pairs.
    /// </summary>
    public GroupingResult LinkSameCells(GroupingResult groups, IReadOnlyList<GroupingInput> images, IReadOnlyList<PolarSignature?> signatures, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(signatures);
        if (Options.LinkDistance <= 0) return groups;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < images.Count; i++) index[images[i].Key] = i;
        var labels = new int[images.Count];
        foreach (var g in groups.Groups) foreach (var key in g.Keys) labels[index[key]] = g.Id;
        var partitionOf = images.Select(i => Options.WithinClass ? i.ClassName ?? "" : "").ToList();
        var links = SameCellLinker.Links(partitionOf, labels, signatures, Options.LinkCandidates, Options.LinkDistance, Threads, cancellationToken);
        var joined = SameCellLinker.Join(labels, links, Options.LinkDistance, Options.LinkPairs);
        var order = new Dictionary<int, int>();
        var keys = new List<List<string>>();
        for (int i = 0; i < images.Count; i++)
        {
            if (!order.TryGetValue(joined[i], out int g))
            {
                order[joined[i]] = g = keys.Count;
                keys.Add([]);
            }
            keys[g].Add(images[i].Key);
        }
        var pairs = groups.Pairs.Concat(links.Where(l => joined[l.A] == joined[l.B] && labels[l.A] != labels[l.B])
                .Select(l => new NearDuplicatePair(images[l.A].Key, images[l.B].Key, 1.0 / (1.0 + l.Distance))))
            .OrderBy(p => p.A, StringComparer.Ordinal).ThenBy(p => p.B, StringComparer.Ordinal).ToList();
        return groups with { Groups = keys.Select((k, id) => new SourceGroup(id, k)).ToList(), Pairs = pairs };
    }

    /// <summary>Groups from precomputed descriptors (same order as <paramref name="images"/>); with <paramref name="signatures"/> the
    /// cautious cut also gets the same-cell links.</summary>
    public GroupingResult GroupFeatures(IReadOnlyList<GroupingInput> images, IReadOnlyList<float[]?> features, CancellationToken cancellationToken = default)
        => GroupFeatures(images, features, null, cancellationToken);

    public GroupingResult GroupFeatures(IReadOnlyList<GroupingInput> images, IReadOnlyList<float[]?> features, IReadOnlyList<PolarSignature?>? signatures, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(features);
        if (features.Count != images.Count) throw new ArgumentException("one descriptor per image", nameof(features));
        int n = images.Count;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (!keys.Add(image.Key)) throw new ArgumentException($"duplicate key '{image.Key}'", nameof(images));
        }

        var dendrogram = BuildDendrogram(images, features, cancellationToken);
        var standard = dendrogram.Cut(Options, GroupingMargin.Standard);
        var cautious = dendrogram.Cut(Options, GroupingMargin.Cautious);
        if (signatures is not null) cautious = LinkSameCells(cautious, images, signatures, cancellationToken);
        IReadOnlyList<GroupingCutSummary> cuts =
        [
            new(GroupingMargin.Standard, standard.Groups.Count, standard.Groups.Count == 0 ? 0 : standard.Groups.Max(g => g.Keys.Count)),
            new(GroupingMargin.Cautious, cautious.Groups.Count, cautious.Groups.Count == 0 ? 0 : cautious.Groups.Max(g => g.Keys.Count)),
        ];
        return (Options.Margin == GroupingMargin.Cautious ? cautious : standard) with { Cuts = cuts };
    }

    /// <summary>The per-partition average-linkage dendrograms; <see cref="GroupingDendrogram.Cut"/> gives groups at any threshold.</summary>
    public GroupingDendrogram BuildDendrogram(IReadOnlyList<GroupingInput> images, IReadOnlyList<float[]?> features, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(features);
        if (features.Count != images.Count) throw new ArgumentException("one descriptor per image", nameof(features));
        int n = images.Count;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (!keys.Add(image.Key)) throw new ArgumentException($"duplicate key '{image.Key}'", nameof(images));
        }

        var (rows, dim) = Standardise(features);
        var partitions = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            if (features[i] is null) continue;
            string part = Options.WithinClass ? images[i].ClassName ?? "" : "";
            if (!partitions.TryGetValue(part, out var list)) partitions[part] = list = [];
            list.Add(i);
        }

        double[] capOf = [Options.ShapeCap, 0, 0, 0];
        var caps = CellDescriptor.Blocks.Select((b, i) => (b.Start, b.Length, (float)capOf[i])).ToList();
        var parts = new List<GroupingDendrogram.Partition>();
        foreach (var part in partitions.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var members = part.Value;
            int m = members.Count;
            var sub = new float[m * dim];
            for (int a = 0; a < m; a++) Array.Copy(rows, members[a] * dim, sub, a * dim, dim);
            var distances = AverageLinkage.Distances(sub, m, dim, caps, Threads, cancellationToken);
            var pristine = (float[])distances.Clone();
            var merges = AverageLinkage.Cluster(distances, m, cancellationToken);
            parts.Add(new GroupingDendrogram.Partition(members.ToArray(), merges, pristine));
        }
        return new GroupingDendrogram(images, parts);
    }

    private (float[] Rows, int Dim) Standardise(IReadOnlyList<float[]?> features)
    {
        int dim = CellDescriptor.Dimensions;
        int n = features.Count;
        var mean = new double[dim];
        var sq = new double[dim];
        int count = 0;
        foreach (var f in features)
        {
            if (f is null) continue;
            count++;
            for (int k = 0; k < dim; k++) { mean[k] += f[k]; sq[k] += (double)f[k] * f[k]; }
        }
        var scale = new float[dim];
        double[] weights = [Options.ShapeWeight, Options.ProfileWeight, Options.HarmonicWeight, Options.ColourWeight];
        var blocks = CellDescriptor.Blocks;
        var sds = new double[dim];
        for (int k = 0; k < dim && count > 0; k++)
        {
            mean[k] /= count;
            sds[k] = Math.Sqrt(Math.Max(0, sq[k] / count - mean[k] * mean[k]));
        }
        for (int b = 0; b < blocks.Count; b++)
        {
            var (_, start, length) = blocks[b];
            // A dimension that hardly varies over the input (noise only) is not blown up to unit spread: its spread is floored
            // at a share of the block's median spread.
            var sorted = sds.AsSpan(start, length).ToArray();
            Array.Sort(sorted);
            double floor = Options.SpreadFloor * sorted[length / 2];
            for (int k = start; k < start + length; k++)
            {
                double sd = Math.Max(sds[k], floor);
                scale[k] = sd > 1e-9 ? (float)(weights[b] / Math.Sqrt(length) / sd) : 0f;
            }
        }
        var rows = new float[n * dim];
        for (int i = 0; i < n; i++)
        {
            var f = features[i];
            if (f is null) continue;
            for (int k = 0; k < dim; k++) rows[i * dim + k] = (float)((f[k] - mean[k]) * scale[k]);
        }
        return (rows, dim);
    }
}
