namespace WbcPortal.Engine.Models.Backbones;

/// <summary>
/// Floating-point operations of one ResNet18 forward pass (<see cref="CntkResNet18"/>'s layers) at an input size,
/// counted layer by layer: a convolution costs 2 x Cin x Cout x k² per output pixel (a multiply and an add), a linear
/// layer 2 x in x out. Batch norm, ReLU, pooling and the residual adds are left out (under 1 % of the total).
/// At 224 x 224 the convolutions and the ImageNet head come to 3.63 GFLOP (the 1.82 G multiply-adds usually quoted).
/// </summary>
public static class ResNet18Flops
{
    /// <summary>Forward FLOPs of the backbone (to the 512 pooled features) plus a linear head of <paramref name="headOutputs"/>.</summary>
    public static double Forward(int height, int width, int headOutputs = 0)
    {
        if (height < 32 || width < 32) throw new ArgumentOutOfRangeException(nameof(height), "ResNet18 needs at least 32 x 32 pixels.");
        double flops = 0;
        int h = height, w = width;
        // stem: 7x7 stride 2 pad 3, 3 -> 64; then max-pool 3x3 stride 2 pad 1
        (h, w) = (Out(h, 7, 2, 3), Out(w, 7, 2, 3));
        flops += Conv(3, 64, 7, h, w);
        (h, w) = (Out(h, 3, 2, 1), Out(w, 3, 2, 1));
        int channels = 64;
        foreach (var (outChannels, stride) in new[] { (64, 1), (128, 2), (256, 2), (512, 2) })
        {
            for (int block = 0; block < 2; block++)
            {
                int s = block == 0 ? stride : 1;
                int oh = Out(h, 3, s, 1), ow = Out(w, 3, s, 1);
                flops += Conv(channels, outChannels, 3, oh, ow);          // conv1 of the block
                flops += Conv(outChannels, outChannels, 3, oh, ow);       // conv2
                if (s != 1 || channels != outChannels) flops += Conv(channels, outChannels, 1, oh, ow); // 1x1 downsample
                (h, w, channels) = (oh, ow, outChannels);
            }
        }
        return flops + 2.0 * 512 * headOutputs;
    }

    /// <summary>
    /// FLOPs of one fine-tune step per image with every layer trainable: the forward, the gradients of every layer's
    /// input and of every weight (each costs about a forward), less the stem's input gradient, which nothing needs.
    /// </summary>
    public static double TrainingStep(int height, int width, int headOutputs = 0) =>
        3 * Forward(height, width, headOutputs) - Conv(3, 64, 7, Out(height, 7, 2, 3), Out(width, 7, 2, 3));

    private static int Out(int size, int kernel, int stride, int padding) => (size + 2 * padding - kernel) / stride + 1;

    private static double Conv(int inChannels, int outChannels, int kernel, int outHeight, int outWidth) =>
        2.0 * inChannels * outChannels * kernel * kernel * outHeight * outWidth;
}
