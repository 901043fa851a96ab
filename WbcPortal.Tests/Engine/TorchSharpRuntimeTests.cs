using TorchSharp;
using static TorchSharp.torch;

namespace WbcPortal.Tests.Engine;

[Trait("Category", "Torch")]
public class TorchSharpRuntimeTests
{
    [Fact]
    public void Forward_and_backward_step_runs_and_reduces_the_loss()
    {
        manual_seed(7);
        var model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2));
        var optimizer = optim.SGD(model.parameters(), 0.1);
        using var x = randn(16, 4);
        using var y = (x.sum(1) > 0).to(ScalarType.Int64);

        float Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            loss.backward();
            optimizer.step();
            return loss.item<float>();
        }

        float first = Step();
        float last = first;
        for (int i = 0; i < 30; i++) last = Step();

        Assert.True(float.IsFinite(first));
        Assert.True(last < first * 0.8f, $"loss went from {first} to {last}");
        Assert.All(model.parameters(), p => Assert.NotNull(p.grad));
    }
}
