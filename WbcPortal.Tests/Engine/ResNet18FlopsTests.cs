using WbcPortal.Engine.Models.Backbones;

namespace WbcPortal.Tests.Engine;

/// <summary>The FLOP count behind <c>training.flop-efficiency</c>, against the published figure and by hand.</summary>
public class ResNet18FlopsTests
{
    [Fact]
    public void At_224_the_count_is_the_published_one_point_eight_two_giga_multiply_adds()
    {
        // torchvision and the ResNet paper: 1.8 G multiply-adds for ResNet18 at 224 x 224 with the 1000-class head.
        double flops = ResNet18Flops.Forward(224, 224, 1000);
        Assert.InRange(flops / 2 / 1e9, 1.81, 1.83);
    }

    [Fact]
    public void The_stem_and_a_head_are_counted_as_worked_out_by_hand_and_a_step_is_about_three_forwards()
    {
        // Adding a head of 4 adds 2 x 512 x 4 FLOPs.
        Assert.Equal(2.0 * 512 * 4, ResNet18Flops.Forward(112, 112, 4) - ResNet18Flops.Forward(112, 112), 6);
        // The stem at 112: 56 x 56 outputs of 3 x 64 x 7 x 7 multiply-adds; the step leaves out its input gradient.
        double stem = 2.0 * 3 * 64 * 49 * 56 * 56;
        Assert.Equal(3 * ResNet18Flops.Forward(112, 112) - stem, ResNet18Flops.TrainingStep(112, 112), 3);
        // Quartering the pixels roughly quarters the work (odd sizes round the last stage up).
        double ratio = ResNet18Flops.Forward(224, 224) / ResNet18Flops.Forward(112, 112);
        Assert.InRange(ratio, 3.5, 4.0);
        Assert.Throws<ArgumentOutOfRangeException>(() => ResNet18Flops.Forward(16, 16));
    }
}
