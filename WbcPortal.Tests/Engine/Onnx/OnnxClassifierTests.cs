using SixLabors.ImageSharp;
using WbcPortal.Engine.Imaging.CellCrop;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Engine.Onnx;

/// <summary>
/// The exported model run by <see cref="OnnxClassifier"/> must see images exactly as training evaluated them
/// (cell crop, input size, test-time flips from the metadata): its logits equal the trainer's own.
/// </summary>
public sealed class OnnxClassifierTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private readonly TempDirectory dir = new("wbc-onnx-classifier");

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Exported_model_logits_match_the_trainer_on_the_same_files(bool crop, bool tta)
    {
        var images = Enumerable.Range(0, 5).Select(i =>
        {
            using var image = TestImages.Smear(320, 240, seed: 40 + i);
            var path = Path.Combine(dir.Path, $"{crop}{tta}{i}.png");
            image.SaveAsPng(path);
            return new LabeledImage(i.ToString(), path, i % ClassifierOnnxExportFixture.Labels.Length);
        }).ToList();
        var cropSpec = crop ? new CellCropSpec { Enabled = true, Size = 0.6 } : CellCropSpec.None;
        var metadata = new ClassifierOnnxMetadata(ClassifierOnnxExportFixture.Labels, 64, 64, null, cropSpec, Temperature: 1.7, TestTimeAugmentation: tta);
        var bytes = fixture.Exporter.Export(fixture.Model, metadata);
        using var classifier = new OnnxClassifier(fixture.Sessions.Create(bytes), new BackboneRegistry([fixture.Backbones]));
        Assert.Equal(1.7, classifier.Metadata.Temperature);

        var onnx = classifier.Predict(images, null, TestContext.Current.CancellationToken, batchSize: 2);
        // The trainer's loader with training-time augmentation settings (a wider cached window) evaluates the centre view.
        var loader = new BatchLoader(fixture.Backbones.CreatePreprocessor(64, 64), new AugmentationConfig { RotationDegrees = 90, Shift = 0.1, Scale = 0.1 }, 3, 1, cropSpec);
        var (_, torch) = Trainer.Predict(fixture.Model, loader, images, TorchSharp.torch.CPU, tta, TestContext.Current.CancellationToken);

        Assert.Equal(images.Select(i => i.Key), onnx.Select(p => p.Key));
        for (int i = 0; i < images.Count; i++)
        {
            for (int c = 0; c < onnx[i].Logits.Length; c++) Assert.Equal(torch[i].Logits[c], onnx[i].Logits[c], 3e-4);
        }
        var probabilities = classifier.Probabilities(onnx[0].Logits);
        Assert.Equal(1, probabilities.Sum(), 9);
    }
}
