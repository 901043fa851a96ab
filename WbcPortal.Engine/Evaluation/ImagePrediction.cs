namespace WbcPortal.Engine.Evaluation;

/// <summary>The model's raw output for one image: probabilities are softmax(logits / T) for a calibration temperature T.</summary>
public sealed record ImagePrediction(string Key, int Label, float[] Logits)
{
    public int Predicted => Compute.VectorMath.Argmax(Logits);
}
