using System.Collections.Concurrent;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Imaging.Augmentation;

namespace WbcPortal.Engine.Training;

/// <summary>An image of a split part with its class index.</summary>
public sealed record LabeledImage(string Key, string Path, int Label);

/// <summary>A batch ready for the model: preprocessed [N, 3, H, W] values and labels.</summary>
public sealed record Batch(float[] Data, long[] Labels, IReadOnlyList<LabeledImage> Items)
{
    public int Count => Items.Count;
}

/// <summary>
/// Decodes, augments and batches images on a background thread while the model trains on the
/// previous batch. Shuffling and augmentation draw from seeds derived from (seed, epoch, position),
/// so an epoch is the same whichever thread finishes first, and a resumed run sees the same batches.
/// </summary>
public sealed class BatchLoader(BackbonePreprocessor preprocessor, AugmentationConfig augmentation, int batchSize, int seed)
{
    private readonly AffineAugmenter augmenter = new(new AugmentationOptions
    {
        RotationDegrees = augmentation.RotationDegrees,
        WidthShift = augmentation.Shift,
        HeightShift = augmentation.Shift,
        Shear = 0,
        HorizontalFlip = augmentation.Flips,
        VerticalFlip = augmentation.Flips,
        Fill = AugmentationFill.Nearest,
    });

    public int BatchSize => batchSize;
    public int Height => preprocessor.Height;
    public int Width => preprocessor.Width;

    public int BatchCount(int images) => (images + batchSize - 1) / batchSize;

    /// <summary>The batches of one epoch, prepared ahead (up to <paramref name="prefetch"/> batches).</summary>
    public IEnumerable<Batch> Epoch(IReadOnlyList<LabeledImage> images, int epoch, bool train, CancellationToken cancellationToken, int prefetch = 3)
    {
        var order = Enumerable.Range(0, images.Count).ToArray();
        if (train) new Random(HashCode32(seed, epoch, -1)).Shuffle(order);
        using var queue = new BlockingCollection<Batch>(Math.Max(1, prefetch));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                for (int start = 0; start < order.Length; start += batchSize)
                {
                    var items = order.Skip(start).Take(batchSize).Select(i => images[i]).ToList();
                    queue.Add(Build(items, epoch, start, train), stop.Token);
                }
            }
            finally
            {
                queue.CompleteAdding();
            }
        }, stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        try
        {
            foreach (var batch in queue.GetConsumingEnumerable(cancellationToken)) yield return batch;
            producer.GetAwaiter().GetResult(); // surface a decoding failure
        }
        finally
        {
            stop.Cancel();
            try { producer.Wait(CancellationToken.None); } catch (AggregateException) { }
        }
    }

    private Batch Build(IReadOnlyList<LabeledImage> items, int epoch, int start, bool train)
    {
        int length = preprocessor.Length;
        var data = new float[items.Count * length];
        var labels = new long[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            using var image = Image.Load<Rgb24>(items[i].Path);
            var random = new Random(HashCode32(seed, epoch, start + i));
            if (train) Augment(image, random);
            preprocessor.Prepare(image, data.AsSpan(i * length, length));
            labels[i] = items[i].Label;
        }
        return new Batch(data, labels, items);
    }

    private void Augment(Image<Rgb24> image, Random random)
    {
        if (augmentation.RotationDegrees > 0 || augmentation.Shift > 0 || augmentation.Flips)
        {
            using var moved = augmenter.Augment(image, random);
            image.Mutate(c => c.DrawImage(moved, 1f));
        }
        if (augmentation.ColorJitter > 0)
        {
            float brightness = 1 + (float)((random.NextDouble() * 2 - 1) * augmentation.ColorJitter);
            float contrast = 1 + (float)((random.NextDouble() * 2 - 1) * augmentation.ColorJitter);
            image.Mutate(c => c.Brightness(brightness).Contrast(contrast));
        }
    }

    /// <summary>A stable (process-independent) 32-bit mix of three integers.</summary>
    private static int HashCode32(int a, int b, int c)
    {
        unchecked
        {
            uint h = 2166136261;
            foreach (var v in new[] { a, b, c }) h = (h ^ (uint)v) * 16777619;
            return (int)(h & 0x7fffffff);
        }
    }
}
