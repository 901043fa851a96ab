using System.Globalization;
using System.Xml.Linq;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using WbcPortal.Engine.Imaging.Augmentation;

namespace WbcPortal.Tests.Support.Grouping;

using WbcPortal.Engine.Datasets.Grouping;

/// <summary>A BCCD smear with one labelled white cell: its number, class and the (largest) WBC box (empty when not annotated).</summary>
public sealed record BccdOriginal(int Number, string ClassName, Rectangle WbcBox)
{
    public string FileName => $"BloodImage_{Number:D5}.jpg";
}

/// <summary>
/// Ground truth for grouping, built from the BCCD dataset the Kaggle set was made from: each single-class BCCD
/// smear is resized to 320x240 like the Kaggle images (their red cells have the size of a whole BCCD smear halved) and augmented
/// with the Kaggle family (<see cref="AugmentationOptions.KaggleBloodCells"/>); the original of every copy is known.
/// </summary>
public static class BccdSyntheticSet
{
    public static IReadOnlyList<string> Classes { get; } = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];

    /// <summary>Window at BCCD's 640x480 resolution, centred on the WBC, resized to 320x240; the whole smear matches the Kaggle images.</summary>
    public const int CropWidth = 640, CropHeight = 480;

    /// <summary>The BCCD smears labelled with exactly one of the four classes, by number.</summary>
    public static IReadOnlyList<BccdOriginal> LoadOriginals(string bccdRoot)
    {
        var result = new List<BccdOriginal>();
        foreach (var line in File.ReadLines(Path.Combine(bccdRoot, "labels.csv")).Skip(1))
        {
            // ",<number>,<category>" where the category may be quoted and comma-separated.
            var parts = line.Split(',', 3);
            if (parts.Length < 3 || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int number)) continue;
            string category = parts[2].Trim().Trim('"').Trim();
            if (!Classes.Contains(category, StringComparer.Ordinal)) continue;
            string xml = Path.Combine(bccdRoot, "Annotations", $"BloodImage_{number:D5}.xml");
            string jpg = Path.Combine(bccdRoot, "JPEGImages", $"BloodImage_{number:D5}.jpg");
            if (!File.Exists(jpg)) continue;
            var boxes = !File.Exists(xml) ? [] : XDocument.Load(xml).Descendants("object")
                .Where(o => (string?)o.Element("name") == "WBC")
                .Select(o => o.Element("bndbox"))
                .Where(b => b is not null)
                .Select(b => Rectangle.FromLTRB(Int(b!, "xmin"), Int(b!, "ymin"), Int(b!, "xmax"), Int(b!, "ymax")))
                .OrderByDescending(r => r.Width * r.Height)
                .ToList();
            result.Add(new BccdOriginal(number, category, boxes.Count > 0 ? boxes[0] : Rectangle.Empty));
        }
        return result.OrderBy(o => o.Number).ToList();
    }

    private static int Int(XElement box, string name) =>
        (int)Math.Round(double.Parse((string?)box.Element(name) ?? "0", CultureInfo.InvariantCulture));

    /// <summary>The original as a 320x240 image (the crop window centred on the WBC, kept inside the smear).</summary>
    public static Image<Rgb24> RenderOriginal(string bccdRoot, BccdOriginal original)
    {
        ArgumentNullException.ThrowIfNull(original);
        using var smear = Image.Load<Rgb24>(Path.Combine(bccdRoot, "JPEGImages", original.FileName));
        bool hasBox = original.WbcBox.Width > 0;
        int cx = hasBox ? original.WbcBox.X + original.WbcBox.Width / 2 : smear.Width / 2, cy = hasBox ? original.WbcBox.Y + original.WbcBox.Height / 2 : smear.Height / 2;
        int w = Math.Min(CropWidth, smear.Width), h = Math.Min(CropHeight, smear.Height);
        int x = Math.Clamp(cx - w / 2, 0, smear.Width - w), y = Math.Clamp(cy - h / 2, 0, smear.Height - h);
        return smear.Clone(c => c.Crop(new Rectangle(x, y, w, h)).Resize(320, 240));
    }

    /// <summary>
    /// Writes <paramref name="copies"/> augmented JPEGs of each original into <paramref name="outputDirectory"/>
    /// (<c>CLASS/bccdNNN_k.jpeg</c>) and returns them as grouping inputs with the original number of each key.
    /// </summary>
    public static (IReadOnlyList<GroupingInput> Inputs, IReadOnlyDictionary<string, int> OriginalOfKey) Generate(
        string bccdRoot, IReadOnlyList<BccdOriginal> originals, int copies, int seed, string outputDirectory,
        AugmentationOptions? augmentation = null, int threads = 0, CancellationToken cancellationToken = default) =>
        Generate(bccdRoot, originals, _ => copies, seed, outputDirectory, augmentation, threads, cancellationToken);

    /// <summary>Copies per class as in the Kaggle TRAIN set (its image count over its originals): EOS 33, LYM 92, MON 155, NEU 16.</summary>
    public static int KaggleCopies(string className) => className switch
    {
        "EOSINOPHIL" => 33,
        "LYMPHOCYTE" => 92,
        "MONOCYTE" => 155,
        _ => 16,
    };

    /// <summary>As above with a number of copies per original (e.g. <see cref="KaggleCopies"/> of its class).</summary>
    public static (IReadOnlyList<GroupingInput> Inputs, IReadOnlyDictionary<string, int> OriginalOfKey) Generate(
        string bccdRoot, IReadOnlyList<BccdOriginal> originals, Func<BccdOriginal, int> copiesOf, int seed, string outputDirectory,
        AugmentationOptions? augmentation = null, int threads = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(copiesOf);
        ArgumentNullException.ThrowIfNull(originals);
        var augmenter = new AffineAugmenter(augmentation ?? AugmentationOptions.KaggleBloodCells);
        var encoder = new JpegEncoder { Quality = 90 };
        var perOriginal = new GroupingInput[originals.Count][];
        Parallel.For(0, originals.Count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancellationToken }, o =>
        {
            var original = originals[o];
            var random = new Random(unchecked(seed * 7919 + original.Number));
            using var crop = RenderOriginal(bccdRoot, original);
            string dir = Path.Combine(outputDirectory, original.ClassName);
            Directory.CreateDirectory(dir);
            int copies = copiesOf(original);
            var list = new GroupingInput[copies];
            for (int k = 0; k < copies; k++)
            {
                using var copy = augmenter.Augment(crop, random);
                string path = Path.Combine(dir, $"bccd{original.Number:D3}_{k:D3}.jpeg");
                copy.SaveAsJpeg(path, encoder);
                list[k] = new GroupingInput($"{original.ClassName}/bccd{original.Number:D3}_{k:D3}", original.ClassName, path);
            }
            perOriginal[o] = list;
        });
        var inputs = perOriginal.SelectMany(l => l).ToList();
        var truth = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int o = 0; o < originals.Count; o++)
        {
            foreach (var input in perOriginal[o]) truth[input.Key] = originals[o].Number;
        }
        return (inputs, truth);
    }
}
