using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;

namespace WbcPortal.Engine.Inference;

/// <summary>
/// An exported classifier run by ONNX Runtime, preparing images exactly as training evaluated them: the
/// cell crop and input size from the model's metadata, the backbone's mean image, the flips when the model
/// was evaluated with test-time augmentation. Probabilities use the model's calibration temperature.
/// One session per instance; <see cref="InferenceSession.Run(IReadOnlyCollection{NamedOnnxValue})"/> is thread-safe.
/// </summary>
public sealed class OnnxClassifier : IDisposable
{
    private readonly InferenceSession session;
    private readonly BackbonePreprocessor preprocessor;
    private readonly ModelView view;

    /// <param name="testTimeAugmentation">Overrides the model's own setting (to measure what the flips add).</param>
    public OnnxClassifier(InferenceSession session, BackboneRegistry backbones, bool? testTimeAugmentation = null)
    {
        this.session = session;
        Metadata = ClassifierOnnxMetadata.Read(session);
        TestTimeAugmentation = testTimeAugmentation ?? Metadata.TestTimeAugmentation;
        preprocessor = backbones.Get(Metadata.Backbone).CreatePreprocessor(Metadata.InputHeight, Metadata.InputWidth);
        view = new ModelView(Metadata.Crop ?? CellCropSpec.None, Metadata.InputHeight, Metadata.InputWidth);
    }

    public static OnnxClassifier Load(string path, OnnxSessionFactory sessions, BackboneRegistry backbones, bool? testTimeAugmentation = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No model at {path}.", path);
        var session = sessions.Create(path);
        try
        {
            return new OnnxClassifier(session, backbones, testTimeAugmentation);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The three flipped views test-time augmentation adds (same order as the trainer's): left-right, top-bottom, both.</summary>
    private static readonly (bool Horizontal, bool Vertical)[] FlipViews = [(true, false), (false, true), (true, true)];

    public ClassifierOnnxMetadata Metadata { get; }
    public IReadOnlyList<string> Labels => Metadata.Labels;

    /// <summary>Whether predictions average the image and its three flips.</summary>
    public bool TestTimeAugmentation { get; }

    /// <summary>Raw logits per image (averaged over flips when the model was evaluated so).</summary>
    public float[][] Logits(IReadOnlyList<Image<Rgb24>> images) => Logits(images.Select(Prepare).ToList());

    /// <summary>
    /// One image made ready for the session: the cell window, centred at the input size, normalised, with its three
    /// flips when the model averages them. Callers can prepare images concurrently and batch the runs (<see cref="Logits(IReadOnlyList{float[]})"/>).
    /// </summary>
    public float[] Prepare(Image<Rgb24> image) => Prepare(image, null);

    /// <summary>
    /// A cell of a smear made ready for the session: the view centred on (<paramref name="centerX"/>, <paramref name="centerY"/>),
    /// <paramref name="viewHeight"/> source pixels high, then as <see cref="Prepare(Image{Rgb24})"/>.
    /// </summary>
    public float[] PrepareAt(Image<Rgb24> image, double centerX, double centerY, double viewHeight) => Prepare(image, (centerX, centerY, viewHeight));

    /// <summary>The height in source pixels of this model's view of a smear at <paramref name="scale"/> (smear pixels per pixel of a BCCD field, 640x480).</summary>
    public double SmearViewHeight(double scale) => (Metadata.Crop is { Enabled: true } crop ? crop.Size : 1) * 480 * scale;

    private float[] Prepare(Image<Rgb24> image, (double X, double Y, double ViewHeight)? at)
    {
        int length = preprocessor.Length, views = TestTimeAugmentation ? 4 : 1;
        var data = new float[views * length];
        int plane = Metadata.InputHeight * Metadata.InputWidth;
        var pixels = ArrayPool<Rgb24>.Shared.Rent(plane);
        try
        {
            // The view's pixels once; each flip is the same pixels read mirrored (no flipped copies of the image).
            if (at is { } a) view.ViewPixelsAt(image, a.X, a.Y, a.ViewHeight, pixels.AsSpan(0, plane));
            else view.ViewPixels(image, pixels.AsSpan(0, plane));
            preprocessor.Normalize(pixels.AsSpan(0, plane), data.AsSpan(0, length));
            if (views == 1) return data;
            int k = 1;
            foreach (var (horizontal, vertical) in FlipViews)
                preprocessor.Normalize(pixels.AsSpan(0, plane), data.AsSpan(k++ * length, length), horizontal, vertical);
            return data;
        }
        finally
        {
            ArrayPool<Rgb24>.Shared.Return(pixels);
        }
    }

    /// <summary>Logits of prepared images (<see cref="Prepare"/>), in one session run.</summary>
    public float[][] Logits(IReadOnlyList<float[]> prepared)
    {
        if (prepared.Count == 0) return [];
        int length = preprocessor.Length, views = TestTimeAugmentation ? 4 : 1;
        var data = new float[prepared.Count * views * length];
        for (int i = 0; i < prepared.Count; i++)
        {
            if (prepared[i].Length != views * length) throw new ArgumentException("An image was prepared for another model.", nameof(prepared));
            prepared[i].CopyTo(data, i * views * length);
        }
        var input = new DenseTensor<float>(data, [prepared.Count * views, 3, Metadata.InputHeight, Metadata.InputWidth]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, input)], [ClassifierOnnxExporter.LogitsName]);
        var logits = results.First().AsTensor<float>().ToArray();
        int classes = Labels.Count;
        var output = new float[prepared.Count][];
        for (int i = 0; i < prepared.Count; i++)
        {
            output[i] = new float[classes];
            for (int v = 0; v < views; v++)
                for (int c = 0; c < classes; c++) output[i][c] += logits[(i * views + v) * classes + c] / views;
        }
        return output;
    }

    /// <summary>The pooled backbone features the head reads (one view per image, no flips): the model's own feature space.</summary>
    public float[][] Features(IReadOnlyList<Image<Rgb24>> images)
    {
        if (images.Count == 0) return [];
        int length = preprocessor.Length;
        var data = new float[images.Count * length];
        var pixels = ArrayPool<Rgb24>.Shared.Rent(length / 3);
        try
        {
            for (int i = 0; i < images.Count; i++)
            {
                view.ViewPixels(images[i], pixels.AsSpan(0, length / 3));
                preprocessor.Normalize(pixels.AsSpan(0, length / 3), data.AsSpan(i * length, length));
            }
        }
        finally
        {
            ArrayPool<Rgb24>.Shared.Return(pixels);
        }
        var input = new DenseTensor<float>(data, [images.Count, 3, Metadata.InputHeight, Metadata.InputWidth]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, input)], [ClassifierOnnxExporter.FeaturesName]);
        var flat = results.First().AsTensor<float>().ToArray();
        int dim = flat.Length / images.Count;
        return Enumerable.Range(0, images.Count).Select(i => flat.AsSpan(i * dim, dim).ToArray()).ToArray();
    }

    /// <summary>Calibrated probabilities, softmax(logits / T).</summary>
    public double[] Probabilities(float[] logits) => Calibration.Softmax(logits, Metadata.Temperature);

    /// <summary>The model's answer for one image's logits: its class, or "Unidentified" under the model's reject threshold.</summary>
    public Evaluation.Reject.ClassDecision Decide(float[] logits) => Evaluation.Reject.RejectRule.Decide(Probabilities(logits), Metadata.RejectThreshold);

    /// <summary>Logits for labelled images read from disk, in batches; labels must be in the model's class order.</summary>
    public IReadOnlyList<ImagePrediction> Predict(IReadOnlyList<LabeledImage> images, IProgress<(int Done, int Total)>? progress, CancellationToken cancellationToken,
        int batchSize = 32, Func<string, Image<Rgb24>>? decode = null)
    {
        decode ??= Image.Load<Rgb24>;
        var result = new List<ImagePrediction>(images.Count);
        for (int start = 0; start < images.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = images.Skip(start).Take(batchSize).ToList();
            var decoded = new Image<Rgb24>[batch.Count];
            try
            {
                Parallel.For(0, batch.Count, new ParallelOptions { CancellationToken = cancellationToken }, i => decoded[i] = decode(batch[i].Path));
                var logits = Logits(decoded);
                for (int i = 0; i < batch.Count; i++) result.Add(new ImagePrediction(batch[i].Key, batch[i].Label, logits[i]));
            }
            finally
            {
                foreach (var image in decoded) image?.Dispose();
            }
            progress?.Report((result.Count, images.Count));
        }
        return result;
    }

    public void Dispose() => session.Dispose();
}
