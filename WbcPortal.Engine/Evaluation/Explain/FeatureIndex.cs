using WbcPortal.Engine.Compute;

namespace WbcPortal.Engine.Evaluation.Explain;

/// <summary>One neighbour: the image's id, its class (index) and the cosine similarity to the query.</summary>
public sealed record Neighbour(int Id, int Label, double Similarity);

/// <summary>
/// Images in a model's feature space (L2-normalised), searched by cosine similarity: "called neutrophil because it
/// resembles these". Stored as a small binary file beside the run, written atomically, so it is computed once per run.
/// </summary>
public sealed class FeatureIndex
{
    private const int Magic = 0x57424649; // "WBFI"
    private readonly int[] ids;
    private readonly int[] labels;
    private readonly float[][] vectors;

    public FeatureIndex(IReadOnlyList<int> ids, IReadOnlyList<int> labels, IReadOnlyList<float[]> features)
    {
        if (ids.Count != labels.Count || ids.Count != features.Count) throw new ArgumentException("One id, label and feature vector per image.");
        this.ids = [.. ids];
        this.labels = [.. labels];
        vectors = features.Select(Normalised).ToArray();
        Dimension = vectors.Length == 0 ? 0 : vectors[0].Length;
        if (vectors.Any(v => v.Length != Dimension)) throw new ArgumentException("Every feature vector needs one length.");
    }

    public int Count => ids.Length;
    public int Dimension { get; }

    /// <summary>The <paramref name="k"/> most similar images, most similar first; images whose id is in <paramref name="exclude"/> are skipped (the query itself, its own original).</summary>
    public IReadOnlyList<Neighbour> Nearest(float[] query, int k, IReadOnlySet<int>? exclude = null)
    {
        if (query.Length != Dimension) throw new ArgumentException($"The query has {query.Length} features, the index {Dimension}.");
        var q = Normalised(query);
        var best = new PriorityQueue<int, double>();
        for (int i = 0; i < vectors.Length; i++)
        {
            if (exclude?.Contains(ids[i]) == true) continue;
            double s = VectorMath.Dot(q, vectors[i]);
            if (best.Count < k) best.Enqueue(i, s);
            else if (best.TryPeek(out _, out double worst) && s > worst) best.EnqueueDequeue(i, s);
        }
        var found = new List<Neighbour>(best.Count);
        while (best.TryDequeue(out int i, out double s)) found.Add(new Neighbour(ids[i], labels[i], s));
        found.Reverse();
        return found;
    }

    public void Save(string path)
    {
        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var w = new BinaryWriter(File.Create(temp)))
        {
            w.Write(Magic);
            w.Write(Count);
            w.Write(Dimension);
            for (int i = 0; i < Count; i++)
            {
                w.Write(ids[i]);
                w.Write(labels[i]);
                foreach (float f in vectors[i]) w.Write(f);
            }
        }
        File.Move(temp, path, overwrite: true);
    }

    public static FeatureIndex Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.ReadInt32() != Magic) throw new InvalidDataException($"{path} is not a feature index.");
        int count = r.ReadInt32(), dim = r.ReadInt32();
        if (count < 0 || dim is < 0 or > 65536) throw new InvalidDataException($"{path} is damaged.");
        var ids = new int[count];
        var labels = new int[count];
        var features = new float[count][];
        for (int i = 0; i < count; i++)
        {
            ids[i] = r.ReadInt32();
            labels[i] = r.ReadInt32();
            features[i] = new float[dim];
            for (int j = 0; j < dim; j++) features[i][j] = r.ReadSingle();
        }
        return new FeatureIndex(ids, labels, features);
    }

    private static float[] Normalised(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return norm > 0 ? v.Select(x => (float)(x / norm)).ToArray() : [.. v];
    }

}
