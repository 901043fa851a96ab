using System.Globalization;
using System.Xml.Linq;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace WbcPortal.Engine.Detection;

/// <summary>One annotated smear of a Pascal VOC set (BCCD): its id, image file and the truth boxes of one object class.</summary>
public sealed record AnnotatedSmear(string Id, string ImagePath, IReadOnlyList<PixelBox> Truth);

/// <summary>A truth box no detection matched (<c>Miss</c>) or a detection that matched no truth box (<c>False</c>);
/// <paramref name="BestIoU"/> is its best overlap with the other side's boxes of the same image.</summary>
public sealed record DetectionError(string ImageId, string Kind, PixelBox Box, double BestIoU, bool Edge);

/// <summary>Counts of one detector on one set at one IoU level.</summary>
public sealed record DetectionScore(string Detector, string Set, int Images, int TruePositives, int FalsePositives, int FalseNegatives, IReadOnlyList<DetectionError> Errors)
{
    public double Recall => TruePositives + FalseNegatives == 0 ? 1 : (double)TruePositives / (TruePositives + FalseNegatives);
    public double Precision => TruePositives + FalsePositives == 0 ? 1 : (double)TruePositives / (TruePositives + FalsePositives);
}

/// <summary>
/// Scores a detector against Pascal VOC boxes: greedy one-to-one matching by IoU (the highest-IoU pair first) at a
/// minimum IoU (0.5 by default). Reads a VOC set (<c>ImageSets/Main/&lt;set&gt;.txt</c>, <c>Annotations</c>, <c>JPEGImages</c>).
/// </summary>
public static class DetectionEvaluator
{
    /// <summary>Boxes of objects named <paramref name="objectName"/> in a VOC XML file (VOC coordinates are 1-based and inclusive; kept as written, as the usual BCCD evaluations do).</summary>
    public static IReadOnlyList<PixelBox> ReadVocBoxes(string xmlPath, string objectName = "WBC")
    {
        var doc = XDocument.Load(xmlPath);
        var boxes = new List<PixelBox>();
        foreach (var obj in doc.Descendants("object"))
        {
            if (!string.Equals((string?)obj.Element("name")?.Value.Trim(), objectName, StringComparison.OrdinalIgnoreCase)) continue;
            var b = obj.Element("bndbox");
            if (b is null) continue;
            int Read(string name) => (int)Math.Round(double.Parse(b.Element(name)!.Value.Trim(), CultureInfo.InvariantCulture));
            boxes.Add(new PixelBox(Read("xmin"), Read("ymin"), Read("xmax"), Read("ymax")));
        }
        return boxes;
    }

    /// <summary>The smears listed in <c>ImageSets/Main/&lt;set&gt;.txt</c> of a VOC folder, with their truth boxes.</summary>
    public static IReadOnlyList<AnnotatedSmear> LoadSet(string vocRoot, string set, string objectName = "WBC")
    {
        string list = Path.Combine(vocRoot, "ImageSets", "Main", set + ".txt");
        var smears = new List<AnnotatedSmear>();
        foreach (var line in File.ReadLines(list))
        {
            string id = line.Trim();
            if (id.Length == 0) continue;
            string xml = Path.Combine(vocRoot, "Annotations", id + ".xml");
            if (!File.Exists(xml)) continue;
            smears.Add(new AnnotatedSmear(id, Path.Combine(vocRoot, "JPEGImages", id + ".jpg"), ReadVocBoxes(xml, objectName)));
        }
        return smears;
    }

    /// <summary>Greedy one-to-one matching: pairs with IoU at least <paramref name="minIoU"/>, highest first.
    /// Returns, for each detection, the index of the truth box it matched or -1.</summary>
    public static int[] Match(IReadOnlyList<PixelBox> truth, IReadOnlyList<PixelBox> detected, double minIoU = 0.5)
    {
        var pairs = new List<(double IoU, int T, int D)>();
        for (int t = 0; t < truth.Count; t++)
            for (int d = 0; d < detected.Count; d++)
            {
                double iou = truth[t].IoU(detected[d]);
                if (iou >= minIoU) pairs.Add((iou, t, d));
            }
        pairs.Sort((a, b) => b.IoU.CompareTo(a.IoU) is var c && c != 0 ? c : a.T != b.T ? a.T.CompareTo(b.T) : a.D.CompareTo(b.D));
        var matchOfDetection = Enumerable.Repeat(-1, detected.Count).ToArray();
        var truthUsed = new bool[truth.Count];
        foreach (var (_, t, d) in pairs)
        {
            if (truthUsed[t] || matchOfDetection[d] >= 0) continue;
            truthUsed[t] = true;
            matchOfDetection[d] = t;
        }
        return matchOfDetection;
    }

    /// <summary>Scores detections already made (one list of boxes per smear, in the order of <paramref name="smears"/>).</summary>
    public static DetectionScore Score(string detector, string set, IReadOnlyList<AnnotatedSmear> smears, IReadOnlyList<IReadOnlyList<PixelBox>> detections,
        double minIoU = 0.5, int width = 640, int height = 480)
    {
        int tp = 0, fp = 0, fn = 0;
        var errors = new List<DetectionError>();
        for (int i = 0; i < smears.Count; i++)
        {
            var truth = smears[i].Truth;
            var found = detections[i];
            var match = Match(truth, found, minIoU);
            var truthMatched = new bool[truth.Count];
            for (int d = 0; d < found.Count; d++)
            {
                if (match[d] >= 0) { tp++; truthMatched[match[d]] = true; continue; }
                fp++;
                errors.Add(new DetectionError(smears[i].Id, "False", found[d], truth.Count == 0 ? 0 : truth.Max(t => t.IoU(found[d])), TouchesBorder(found[d], width, height)));
            }
            for (int t = 0; t < truth.Count; t++)
            {
                if (truthMatched[t]) continue;
                fn++;
                errors.Add(new DetectionError(smears[i].Id, "Miss", truth[t], found.Count == 0 ? 0 : found.Max(d => d.IoU(truth[t])), TouchesBorder(truth[t], width, height)));
            }
        }
        return new DetectionScore(detector, set, smears.Count, tp, fp, fn, errors);
    }

    /// <summary>Decodes each smear and runs <paramref name="detector"/> on it, then scores the whole-cell boxes.</summary>
    public static DetectionScore Evaluate(string name, IWbcDetector detector, string set, IReadOnlyList<AnnotatedSmear> smears, double minIoU = 0.5, CancellationToken cancellationToken = default)
    {
        var boxes = new List<IReadOnlyList<PixelBox>>(smears.Count);
        int width = 640, height = 480;
        foreach (var smear in smears)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var image = Image.Load<Rgb24>(smear.ImagePath);
            width = image.Width; height = image.Height;
            boxes.Add(detector.Detect(image, cancellationToken).Cells.Select(c => c.Box).ToList());
        }
        return Score(name, set, smears, boxes, minIoU, width, height);
    }

    /// <summary>True when the box comes within <paramref name="margin"/> pixels of the image border.</summary>
    public static bool TouchesBorder(PixelBox box, int width, int height, int margin = 3) =>
        box.XMin <= margin || box.YMin <= margin || box.XMax >= width - margin || box.YMax >= height - margin;

    /// <summary>A plain-text table of scores, one row each.</summary>
    public static string Table(IEnumerable<DetectionScore> scores)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("| detector | set | smears | recall | precision | TP | FP | FN |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var s in scores)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {s.Detector} | {s.Set} | {s.Images} | {s.Recall:0.000} | {s.Precision:0.000} | {s.TruePositives} | {s.FalsePositives} | {s.FalseNegatives} |"));
        return sb.ToString();
    }
}
