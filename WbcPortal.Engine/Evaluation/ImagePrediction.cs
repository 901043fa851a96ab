namespace WbcPortal.Engine.Evaluation;

/// <summary>The model's raw output for one image: probabilities are softmax(logits / T) for a calibration temperature T.</summary>
public sealed record ImagePrediction(string Key, int Label, float[] Logits)
{
    public int Predicted
    {
        get
        {
            int best = 0;
            for (int i = 1; i < Logits.Length; i++) if (Logits[i] > Logits[best]) best = i;
            return best;
        }
    }
}
