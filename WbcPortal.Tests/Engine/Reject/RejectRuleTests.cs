using WbcPortal.Engine.Evaluation;
using WbcPortal.Engine.Evaluation.Reject;
using WbcPortal.Engine.Models.Onnx;

namespace WbcPortal.Tests.Engine.Reject;

/// <summary>The "Unidentified" rule: the threshold fitted for a target accuracy, the coverage-accuracy curve, weighting by original, and the threshold stored in the model.</summary>
public class RejectRuleTests
{
    /// <summary>Two-class logits whose softmax gives <paramref name="p"/> to class 0.</summary>
    private static float[] Logits(double p) => [(float)Math.Log(p), (float)Math.Log(1 - p)];

    /// <summary>Ten predictions of class 0 at confidences 0.95 down to 0.55; the ones at <paramref name="wrongAt"/> are really class 1.</summary>
    private static List<ImagePrediction> Ladder(params double[] wrongAt) =>
        Enumerable.Range(0, 9).Select(i => 0.95 - 0.05 * i)
            .Select((p, i) => new ImagePrediction($"k{i}", wrongAt.Any(w => Math.Abs(w - p) < 1e-9) ? 1 : 0, Logits(p))).ToList();

    [Fact]
    public void The_threshold_is_the_lowest_confidence_whose_decided_cells_reach_the_target()
    {
        // Confidences 0.95 .. 0.55; wrong at 0.70 and 0.60. Prefixes: 5 right at 0.75 (100 %), 5/6 at 0.70, 6/7 at 0.65, 6/8 at 0.60, 7/9 at 0.55.
        var predictions = Ladder(0.70, 0.60);
        Assert.Equal(0.75, RejectRule.Fit(predictions, 1, 0.95), 6);
        Assert.Equal(0.65, RejectRule.Fit(predictions, 1, 0.85), 6); // 6/7 = 0.857
        Assert.Equal(0, RejectRule.Fit(predictions, 1, 0.75)); // all nine together: 7/9 = 0.778 reach it, so nothing is rejected
        Assert.Equal(0, RejectRule.Fit(Ladder(), 1, 1.0)); // never wrong: decide everything
        Assert.Equal(1, RejectRule.Fit([new ImagePrediction("x", 1, Logits(0.9))], 1, 0.9)); // not even the surest is right
        Assert.Equal(0, RejectRule.Fit([], 1, 0.95));
        Assert.Throws<ArgumentOutOfRangeException>(() => RejectRule.Fit(predictions, 1, 0));
    }

    [Fact]
    public void Weighting_by_original_keeps_one_cell_with_many_copies_from_setting_the_threshold()
    {
        // One original with 20 wrong copies at 0.9, and twenty originals of one right image each at 0.8 .. 0.99.
        var predictions = new List<ImagePrediction>();
        var groups = new Dictionary<string, int?>();
        for (int i = 0; i < 20; i++) { predictions.Add(new ImagePrediction($"bad{i}", 1, Logits(0.9))); groups[$"bad{i}"] = 1; }
        for (int i = 0; i < 20; i++) { predictions.Add(new ImagePrediction($"good{i}", 0, Logits(0.8 + 0.01 * i))); groups[$"good{i}"] = 100 + i; }
        var weights = OriginalWeighting.Of(predictions, groups)!;
        Assert.Equal(1.0 / 20, weights[0], 9);
        Assert.Equal(1.0, weights[20], 9);
        // By image the 20 wrong copies are half the set: only the 9 images above 0.9 are right enough for 90 %.
        Assert.Equal(0.91, RejectRule.Fit(predictions, 1, 0.9), 6);
        // By original the wrong cell is one of 21: every image can be decided at 20/21 = 95.2 %.
        Assert.Equal(0, RejectRule.Fit(predictions, 1, 0.95, weights));
        Assert.Null(OriginalWeighting.Of(predictions, null));
        Assert.Null(OriginalWeighting.Of(predictions, new Dictionary<string, int?> { ["bad0"] = null }));
    }

    [Fact]
    public void A_weighted_temperature_counts_each_original_once()
    {
        // One original, 50 copies, overconfident and wrong; 50 originals of one copy each, right at p 0.7.
        var predictions = new List<ImagePrediction>();
        var groups = new Dictionary<string, int?>();
        for (int i = 0; i < 50; i++) { predictions.Add(new ImagePrediction($"w{i}", 1, Logits(0.99))); groups[$"w{i}"] = 0; }
        for (int i = 0; i < 50; i++) { predictions.Add(new ImagePrediction($"r{i}", 0, Logits(0.7))); groups[$"r{i}"] = i + 1; }
        double plain = Calibration.FitTemperature(predictions);
        double byOriginal = Calibration.FitTemperature(predictions, OriginalWeighting.Of(predictions, groups));
        // By image half the set is confidently wrong, so the logits are flattened hard; by original 1 cell in 51 is.
        Assert.True(plain > 3 * byOriginal, $"plain T {plain}, by original {byOriginal}");
        Assert.Equal(plain, Calibration.FitTemperature(predictions, Enumerable.Repeat(2.0, predictions.Count).ToList()), 4);
    }

    [Fact]
    public void The_curve_runs_from_every_cell_decided_to_the_surest_and_holds_the_models_point()
    {
        var predictions = Ladder(0.70, 0.60);
        var curve = CoverageCurve.From(predictions, 1, modelThreshold: 0.725);
        Assert.Equal(0, curve[0].Threshold);
        Assert.Equal((9, 7, 1.0), (curve[0].Decided, curve[0].Correct, curve[0].Coverage));
        Assert.Contains(curve, p => p.Threshold == 0.725 && p.Decided == 5 && p.Accuracy == 1);
        Assert.Equal(0.99, curve[^1].Threshold);
        Assert.Equal(0, curve[^1].Decided);
        Assert.Equal(1, curve[^1].Accuracy); // nothing decided, nothing wrong
        Assert.True(curve.Zip(curve.Skip(1)).All(p => p.First.Threshold < p.Second.Threshold && p.First.Decided >= p.Second.Decided));
        Assert.Equal(50, curve.Count(p => p.Threshold >= 0.5 && p.Threshold < 1 && p.Threshold != 0.725)); // 0.50 .. 0.99 for two classes
    }

    [Fact]
    public void The_report_counts_unidentified_cells_by_true_class_and_keeps_the_classification_report_whole()
    {
        var predictions = Ladder(0.70, 0.60);
        var report = EvaluationReport.Build(["A", "B"], predictions, 1, rejectThreshold: 0.72);
        var coverage = report.Coverage!;
        Assert.Equal(0.72, coverage.Threshold);
        Assert.Equal((5, 5, 9), (coverage.AtThreshold.Decided, coverage.AtThreshold.Correct, coverage.AtThreshold.Total));
        Assert.Equal([2, 2], coverage.UnidentifiedByClass); // 0.70 and 0.60 are B; 0.65 and 0.55 are A
        Assert.Equal(9, report.Total); // the classification report still counts every image's top class
        Assert.Equal(7.0 / 9, report.Accuracy, 9);
        var decision = RejectRule.Decide([0.6, 0.4], 0.72);
        Assert.True(decision.Unidentified);
        Assert.Equal(ClassDecision.UnidentifiedName, decision.Answer(["A", "B"]));
        Assert.Equal("A", RejectRule.Decide([0.8, 0.2], 0.72).Answer(["A", "B"]));
    }

    [Fact]
    public void The_threshold_travels_in_the_models_metadata_and_a_rewrite_keeps_the_graph()
    {
        var metadata = new ClassifierOnnxMetadata(["A", "B"], 96, 96, Temperature: 1.5, RejectThreshold: 0.83, RejectTargetAccuracy: 0.95);
        var read = ClassifierOnnxMetadata.FromProperties(metadata.ToProperties());
        Assert.Equal((0.83, 0.95, 1.5), (read.RejectThreshold, read.RejectTargetAccuracy, read.Temperature));
        var none = ClassifierOnnxMetadata.FromProperties(new ClassifierOnnxMetadata(["A", "B"], 96, 96).ToProperties());
        Assert.Equal(0, none.RejectThreshold);
        Assert.Throws<ArgumentException>(() => (metadata with { RejectThreshold = 1.2 }).Validate());
        var bad = metadata.ToProperties().Select(p => p.Key == ClassifierOnnxMetadata.RejectThresholdKey ? new KeyValuePair<string, string>(p.Key, "lots") : p);
        Assert.Throws<InvalidDataException>(() => ClassifierOnnxMetadata.FromProperties(bad));

        // A graph of one Identity node stands in for a classifier: the rewrite changes metadata only.
        using var dir = new Support.TempDirectory();
        string path = Path.Combine(dir.Path, "model.onnx");
        var proto = new global::Onnx.ModelProto { IrVersion = 8, Graph = new global::Onnx.GraphProto { Name = "g" } };
        proto.Graph.Node.Add(new global::Onnx.NodeProto { OpType = "Identity", Input = { "x" }, Output = { "y" } });
        foreach (var (k, v) in metadata.ToProperties()) proto.MetadataProps.Add(new global::Onnx.StringStringEntryProto { Key = k, Value = v });
        ModelProtoFile.Write(proto, path);
        var written = ModelProtoFile.RewriteMetadata(path, m => m with { RejectThreshold = 0.6, Temperature = 2 });
        Assert.Equal(0.6, written.RejectThreshold);
        var again = ClassifierOnnxMetadata.Read(path);
        Assert.Equal((0.6, 2.0, 0.95), (again.RejectThreshold, again.Temperature, again.RejectTargetAccuracy));
        using (var stream = File.OpenRead(path)) Assert.Equal("Identity", global::Onnx.ModelProto.Parser.ParseFrom(stream).Graph.Node.Single().OpType);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }
}
