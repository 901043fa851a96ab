using System.Collections.Concurrent;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Imaging.Augmentation;
using WbcPortal.Engine.Imaging.CellCrop;

namespace WbcPortal.Engine.Training;

/// <summary>An image of a split part with its class index and, where known, its source group (the original it was copied from).</summary>
public sealed record LabeledImage(string Key, string Path, int Label, int? Group = null);

/// <summary>A batch ready for the model: preprocessed [N, 3, H, W] values and labels.</summary>
public sealed record Batch(float[] Data, long[] Labels, IReadOnlyList<LabeledImage> Items)
{
    public int Count => Items.Count;
}

/// <summary>
/// Decodes, crops, augments and batches images on a background thread while the model trains on the
/// previous batch. Each image is decoded and cut to its window (<see cref="ModelView"/>) once, then kept in
/// memory at the model's input scale, so later epochs only augment. Shuffling and augmentation draw from
/// seeds derived from (seed, epoch, position), so an epoch is the same whichever thread finishes first,
/// and a resumed run sees the same batches.
/// </summary>
public sealed class BatchLoader
{
    private readonly BackbonePreprocessor preprocessor;
    private readonly ModelView view;
    private readonly AugmentationConfig augmentation;
    private readonly int seed;
    private readonly double margin;
    private readonly AffineAugmenter augmenter;
    private readonly ConcurrentDictionary<string, Window> windows = new(StringComparer.Ordinal);

    private sealed record Window(Rgb24[] Pixels, int Width, int Height);

    public BatchLoader(BackbonePreprocessor preprocessor, AugmentationConfig augmentation, int batchSize, int seed, CellCropSpec? crop = null)
    {
        this.preprocessor = preprocessor;
        this.augmentation = augmentation;
        this.seed = seed;
        BatchSize = batchSize;
        view = new ModelView(crop ?? CellCropSpec.None, preprocessor.Height, preprocessor.Width);
        bool geometric = augmentation.RotationDegrees > 0 || augmentation.Shift > 0 || augmentation.Scale > 0;
        // Context around a cropped view, so rotations (up to 45 degrees need sqrt 2), shifts and zoom-outs sample real pixels.
        double rotation = Math.Min(augmentation.RotationDegrees, 45) / 45 * (Math.Sqrt(2) - 1);
        margin = view.Crop.Enabled && geometric ? Math.Min(1.6, 1 + rotation + 2 * augmentation.Shift + augmentation.Scale) : 1;
        augmenter = new AffineAugmenter(new AugmentationOptions
        {
            RotationDegrees = augmentation.RotationDegrees,
            // Shifts are fractions of the view; the augmenter works on the wider window.
            WidthShift = augmentation.Shift / margin,
            HeightShift = augmentation.Shift / margin,
            Shear = 0,
            Zoom = augmentation.Scale,
            HorizontalFlip = augmentation.Flips,
            VerticalFlip = augmentation.Flips,
            Fill = AugmentationFill.Nearest,
        });
    }

    public int BatchSize { get; }
    public int Height => preprocessor.Height;
    public int Width => preprocessor.Width;
    public BackbonePreprocessor Preprocessor => preprocessor;

    /// <summary>Windows held in memory (decoded once per image).</summary>
    public int CachedImages => windows.Count;

    public int BatchCount(int images) => (images + BatchSize - 1) / BatchSize;

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
                for (int start = 0; start < order.Length; start += BatchSize)
                {
                    var items = order.Skip(start).Take(BatchSize).Select(i => images[i]).ToList();
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
            var window = windows.GetOrAdd(items[i].Key, static (_, state) => state.Loader.Load(state.Path), (Loader: this, items[i].Path));
            using var image = Image.LoadPixelData<Rgb24>(window.Pixels, window.Width, window.Height);
            if (train)
            {
                var random = new Random(HashCode32(seed, epoch, start + i));
                using var augmented = Augment(image, random);
                preprocessor.Normalize(augmented, data.AsSpan(i * length, length));
            }
            else
            {
                using var center = view.Center(image);
                preprocessor.Normalize(center, data.AsSpan(i * length, length));
            }
            labels[i] = items[i].Label;
        }
        return new Batch(data, labels, items);
    }

    private Window Load(string path)
    {
        using var image = Image.Load<Rgb24>(path);
        using var window = view.Window(image, margin);
        var pixels = new Rgb24[window.Width * window.Height];
        window.CopyPixelDataTo(pixels);
        return new Window(pixels, window.Width, window.Height);
    }

    private Image<Rgb24> Augment(Image<Rgb24> window, Random random)
    {
        bool geometric = augmentation.RotationDegrees > 0 || augmentation.Shift > 0 || augmentation.Scale > 0 || augmentation.Flips;
        var moved = geometric ? augmenter.Augment(window, random) : window.Clone();
        var result = view.Center(moved);
        moved.Dispose();
        if (augmentation.ColorJitter > 0)
        {
            float J() => 1 + (float)((random.NextDouble() * 2 - 1) * augmentation.ColorJitter);
            float brightness = J(), contrast = J(), saturation = J();
            result.Mutate(c => c.Brightness(brightness).Contrast(contrast).Saturate(saturation));
        }
        // Drawn only when on, so a configuration without them keeps its random stream (and its figures) as before.
        if (augmentation.StainJitter > 0) StainAugmenter.StainJitter(result, augmentation.StainJitter, random);
        if (augmentation.Blur > 0 || augmentation.Jpeg > 0) result = StainAugmenter.Degrade(result, augmentation.Blur, augmentation.Jpeg, random);
        return result;
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
