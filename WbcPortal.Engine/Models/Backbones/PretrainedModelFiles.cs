namespace WbcPortal.Engine.Models.Backbones;

/// <summary>
/// Where the pretrained ONNX files that ship with the build live. The build copies them from the
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 NuGet package into <c>models/pretrained</c> of every output;
/// nothing is downloaded at run time.
/// </summary>
public sealed record PretrainedModelFiles(string Directory)
{
    public static PretrainedModelFiles Default { get; } =
        new(Path.Combine(AppContext.BaseDirectory, "models", "pretrained"));

    public string ResNet18Onnx => Path.Combine(Directory, "ResNet18.onnx");
    public string PreprocessOnnx => Path.Combine(Directory, "ResNetPreprocess.onnx");

    public void EnsurePresent()
    {
        foreach (var file in new[] { ResNet18Onnx, PreprocessOnnx })
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException(
                    $"Pretrained model file not found: {file}. It is copied there by the build from the " +
                    "Microsoft.ML.DnnImageFeaturizer.ResNet18 package; rebuild the solution.", file);
            }
        }
    }
}
