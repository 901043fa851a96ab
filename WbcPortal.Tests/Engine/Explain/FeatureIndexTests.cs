using WbcPortal.Engine.Evaluation.Explain;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Explain;

public sealed class FeatureIndexTests : IDisposable
{
    private readonly TempDirectory dir = new("wbc-index");

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Finds_the_most_similar_images_by_cosine_skips_excluded_ones_and_survives_a_round_trip()
    {
        float[][] features = [[1, 0, 0], [0.9f, 0.1f, 0], [0, 1, 0], [0, 0, 5], [-1, 0, 0]];
        var index = new FeatureIndex([10, 11, 12, 13, 14], [0, 0, 1, 2, 1], features);

        var near = index.Nearest([2, 0.1f, 0], 3);
        Assert.Equal([10, 11, 12], near.Select(n => n.Id));
        Assert.True(near[0].Similarity > near[1].Similarity && near[1].Similarity > near[2].Similarity);
        Assert.Equal(1.0, index.Nearest([0, 0, 1], 1)[0].Similarity, 5); // length does not matter, direction does
        Assert.Equal([11, 12], index.Nearest([2, 0.1f, 0], 2, new HashSet<int> { 10 }).Select(n => n.Id));

        string path = Path.Combine(dir.Path, "index.bin");
        index.Save(path);
        var loaded = FeatureIndex.Load(path);
        Assert.Equal((5, 3), (loaded.Count, loaded.Dimension));
        Assert.Equal(near, loaded.Nearest([2, 0.1f, 0], 3));
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Throws<InvalidDataException>(() => FeatureIndex.Load(path));
        Assert.Throws<ArgumentException>(() => index.Nearest([1, 2], 1));
    }
}
