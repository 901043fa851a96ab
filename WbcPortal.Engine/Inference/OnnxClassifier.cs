using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Google.Protobuf;
using Onnx;
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

/// <summary>One image made ready for a model's session (<see cref="OnnxClassifier.Prepare(Image{Rgb24})"/>): the window's RGB bytes for a
/// self-contained model, the normalised views for an older export. Only the classifier that made it reads it.</summary>
public sealed class PreparedImage
{
    internal PreparedImage(byte[] window) => Window = window;

    internal PreparedImage(float[] views) => Views = views;

    /// <summary>[H, W, 3] RGB bytes (format 2).</summary>
    internal byte[]? Window { get; }

    /// <summary>[views, 3, H, W] BGR minus the mean image (format 1).</summary>
    internal float[]? Views { get; }
}

/// <summary>
/// An exported classifier run by ONNX Runtime, preparing images exactly as training evaluated them: the
/// cell crop and input size from the model's metadata, the backbone's mean image, the flips when the model
/// was evaluated with test-time augmentation. Probabilities use the model's calibration temperature.
/// A self-contained model (format 2) is given the window's 8-bit RGB and does the flips, mean and averaging itself;
/// an older export (format 1) is given the prepared float views and its logits are averaged here.
/// One session per instance; <see cref="InferenceSession.Run(IReadOnlyCollection{NamedOnnxValue})"/> is thread-safe.
/// </summary>
public sealed class OnnxClassifier : IDisposable
{
    private readonly InferenceSession session;
    private readonly BackbonePreprocessor preprocessor;
    private readonly ModelView view;

    /// <param name="testTimeAugmentation">
    /// Overrides the model's own setting (to measure what the flips add). A self-contained model does its flips in its
    /// graph: for one, only <see cref="Load"/> can override it (it rebuilds the graph's front).
    /// </param>
    public OnnxClassifier(InferenceSession session, BackboneRegistry backbones, bool? testTimeAugmentation = null)
        : this(session, backbones, testTimeAugmentation, graphFlips: null)
    {
    }

    private OnnxClassifier(InferenceSession session, BackboneRegistry backbones, bool? testTimeAugmentation, bool? graphFlips)
    {
        this.session = session;
        Metadata = ClassifierOnnxMetadata.Read(session);
        TestTimeAugmentation = testTimeAugmentation ?? Metadata.TestTimeAugmentation;
        TakesWindow = session.InputMetadata.ContainsKey(WindowGraph.WindowName);
        if (TakesWindow != (Metadata.Format == ClassifierOnnxMetadata.WindowFormat))
            throw new InvalidDataException($"The model's graph is format {(TakesWindow ? 2 : 1)} but its {ClassifierOnnxMetadata.FormatKey} says {Metadata.Format}.");
        if (TakesWindow && TestTimeAugmentation != (graphFlips ?? Metadata.TestTimeAugmentation))
            throw new ArgumentException("A self-contained model does its flips in its graph; load it with OnnxClassifier.Load to override them.", nameof(testTimeAugmentation));
        preprocessor = backbones.Get(Metadata.Backbone).CreatePreprocessor(Metadata.InputHeight, Metadata.InputWidth);
        view = new ModelView(Metadata.Crop ?? CellCropSpec.None, Metadata.InputHeight, Metadata.InputWidth);
    }

    public static OnnxClassifier Load(string path, OnnxSessionFactory sessions, BackboneRegistry backbones, bool? testTimeAugmentation = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No model at {path}.", path);
        bool? graphFlips = null;
        InferenceSession session;
        if (testTimeAugmentation is bool flips && WithOtherFlips(path, flips) is { } rebuilt)
        {
            session = sessions.Create(rebuilt.ToByteArray());
            graphFlips = flips;
        }
        else
        {
            session = sessions.Create(path);
        }
        try
        {
            return new OnnxClassifier(session, backbones, testTimeAugmentation, graphFlips);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>A self-contained model whose graph's flips are not <paramref name="flips"/>, re-wrapped with them (its metadata unchanged); otherwise null.</summary>
    private static ModelProto? WithOtherFlips(string path, bool flips)
    {
        ModelProto proto;
        using (var stream = File.OpenRead(path)) proto = ModelProto.Parser.ParseFrom(stream);
        if (!WindowGraph.TakesWindow(proto) || WindowGraph.Flips(proto) == flips) return null;
        var metadata = ClassifierOnnxMetadata.Read(proto);
        var rebuilt = WindowGraph.Wrap(WindowGraph.Unwrap(proto), WindowGraph.MeanPlanes(proto), metadata.InputHeight, metadata.InputWidth, flips, WindowGraph.Temperature(proto));
        rebuilt.MetadataProps.Clear();
        rebuilt.MetadataProps.AddRange(proto.MetadataProps);
        return rebuilt;
    }

    /// <summary>The three flipped views test-time augmentation adds (same order as the trainer's): left-right, top-bottom, both.</summary>
    private static readonly (bool Horizontal, bool Vertical)[] FlipViews = [(true, false), (false, true), (true, true)];

    public ClassifierOnnxMetadata Metadata { get; }
    public IReadOnlyList<string> Labels => Metadata.Labels;

    /// <summary>Whether predictions average the image and its three flips.</summary>
    public bool TestTimeAugmentation { get; }

    /// <summary>Whether the model is self-contained (format 2): it takes the window's RGB bytes and does the rest in its graph.</summary>
    public bool TakesWindow { get; }

    /// <summary>Raw logits per image (averaged over flips when the model was evaluated so).</summary>
    public float[][] Logits(IReadOnlyList<Image<Rgb24>> images) => Logits(images.Select(Prepare).ToList());

    /// <summary>
    /// One image made ready for the session: the cell window, centred at the input size (and for an older export normalised,
    /// with its three flips when the model averages them). Callers can prepare images concurrently and batch the runs
    /// (<see cref="Logits(IReadOnlyList{PreparedImage})"/>).
    /// </summary>
    public PreparedImage Prepare(Image<Rgb24> image) => Prepare(image, null);

    /// <summary>
    /// A cell of a smear made ready for the session: the view centred on (<paramref name="centerX"/>, <paramref name="centerY"/>),
    /// <paramref name="viewHeight"/> source pixels high, then as <see cref="Prepare(Image{Rgb24})"/>.
    /// </summary>
    public PreparedImage PrepareAt(Image<Rgb24> image, double centerX, double centerY, double viewHeight) => Prepare(image, (centerX, centerY, viewHeight));

    /// <summary>The height in source pixels of this model's view of a smear at <paramref name="scale"/> (smear pixels per pixel of a BCCD field, 640x480).</summary>
    public double SmearViewHeight(double scale) => (Metadata.Crop is { Enabled: true } crop ? crop.Size : 1) * 480 * scale;

    /// <summary>The window the model sees for <paramref name="image"/>: <c>Width x Height</c> RGB pixels, row-major (what a self-contained model's input holds).</summary>
    public byte[] WindowBytes(Image<Rgb24> image)
    {
        var bytes = new byte[Metadata.InputHeight * Metadata.InputWidth * 3];
        view.ViewPixels(image, MemoryMarshal.Cast<byte, Rgb24>(bytes.AsSpan()));
        return bytes;
    }

    private PreparedImage Prepare(Image<Rgb24> image, (double X, double Y, double ViewHeight)? at)
    {
        int plane = Metadata.InputHeight * Metadata.InputWidth;
        if (TakesWindow)
        {
            var bytes = new byte[plane * 3];
            var window = MemoryMarshal.Cast<byte, Rgb24>(bytes.AsSpan());
            if (at is { } w) view.ViewPixelsAt(image, w.X, w.Y, w.ViewHeight, window);
            else view.ViewPixels(image, window);
            return new PreparedImage(bytes);
        }
        int length = preprocessor.Length, views = TestTimeAugmentation ? 4 : 1;
        var data = new float[views * length];
        var pixels = ArrayPool<Rgb24>.Shared.Rent(plane);
        try
        {
            // The view's pixels once; each flip is the same pixels read mirrored (no flipped copies of the image).
            if (at is { } a) view.ViewPixelsAt(image, a.X, a.Y, a.ViewHeight, pixels.AsSpan(0, plane));
            else view.ViewPixels(image, pixels.AsSpan(0, plane));
            preprocessor.Normalize(pixels.AsSpan(0, plane), data.AsSpan(0, length));
            if (views == 1) return new PreparedImage(data);
            int k = 1;
            foreach (var (horizontal, vertical) in FlipViews)
                preprocessor.Normalize(pixels.AsSpan(0, plane), data.AsSpan(k++ * length, length), horizontal, vertical);
            return new PreparedImage(data);
        }
        finally
        {
            ArrayPool<Rgb24>.Shared.Return(pixels);
        }
    }

    /// <summary>Logits of prepared images (<see cref="Prepare"/>), in one session run.</summary>
    public float[][] Logits(IReadOnlyList<PreparedImage> prepared) => Run(prepared, ClassifierOnnxExporter.LogitsName);

    /// <summary>
    /// The pooled backbone features the head reads (one view per image, no flips): the model's own feature space. A
    /// self-contained model with flips computes all four views for them; load it without flips when only features are wanted.
    /// </summary>
    public float[][] Features(IReadOnlyList<Image<Rgb24>> images)
    {
        if (images.Count == 0) return [];
        if (TakesWindow) return Run(images.Select(Prepare).ToList(), ClassifierOnnxExporter.FeaturesName);
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
        return Rows(results.First().AsTensor<float>().ToArray(), images.Count);
    }

    /// <summary>
    /// One session run over prepared images, answering <paramref name="output"/> per image. A self-contained model answers
    /// per image; an older export answers per view, averaged here (only its logits come this way).
    /// </summary>
    private float[][] Run(IReadOnlyList<PreparedImage> prepared, string output)
    {
        if (prepared.Count == 0) return [];
        int height = Metadata.InputHeight, width = Metadata.InputWidth;
        if (TakesWindow)
        {
            int size = height * width * 3;
            var bytes = new byte[prepared.Count * size];
            for (int i = 0; i < prepared.Count; i++)
            {
                var window = prepared[i].Window;
                if (window is null || window.Length != size) throw new ArgumentException("An image was prepared for another model.", nameof(prepared));
                window.CopyTo(bytes, i * size);
            }
            var windows = new DenseTensor<byte>(bytes, [prepared.Count, height, width, 3]);
            using var answer = session.Run([NamedOnnxValue.CreateFromTensor(WindowGraph.WindowName, windows)], [output]);
            return Rows(answer.First().AsTensor<float>().ToArray(), prepared.Count);
        }
        int length = preprocessor.Length, views = TestTimeAugmentation ? 4 : 1;
        var data = new float[prepared.Count * views * length];
        for (int i = 0; i < prepared.Count; i++)
        {
            var tensor = prepared[i].Views;
            if (tensor is null || tensor.Length != views * length) throw new ArgumentException("An image was prepared for another model.", nameof(prepared));
            tensor.CopyTo(data, i * views * length);
        }
        var input = new DenseTensor<float>(data, [prepared.Count * views, 3, height, width]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(ClassifierOnnxExporter.InputName, input)], [output]);
        var flat = results.First().AsTensor<float>().ToArray();
        int classes = Labels.Count;
        var rows = new float[prepared.Count][];
        for (int i = 0; i < prepared.Count; i++)
        {
            rows[i] = new float[classes];
            for (int v = 0; v < views; v++)
                for (int c = 0; c < classes; c++) rows[i][c] += flat[(i * views + v) * classes + c] / views;
        }
        return rows;
    }

    private static float[][] Rows(float[] flat, int count)
    {
        int dim = flat.Length / count;
        return Enumerable.Range(0, count).Select(i => flat.AsSpan(i * dim, dim).ToArray()).ToArray();
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
