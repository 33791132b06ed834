using BiVM.Model.Binarization;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Binarization;

public class BatchNormModeTests
{
    [Fact]
    public void Running_mode_normalizes_by_the_running_statistics_that_follow_the_batches()
    {
        manual_seed(11);
        using var unit = new ConvBnAct(new ConvSpec(3, 8, 3), ConvPrecision.Full, ActivationKind.None, bnMomentum: 0.1) { NormMode = BatchNormMode.Running };
        var norm = unit.Norm!;
        using (no_grad()) { norm.weight!.uniform_(0.5, 1.5); norm.bias!.uniform_(-0.5, 0.5); }
        unit.train();
        var first = rand(2, 3, 16, 16) * 3 + 1;
        var second = rand(2, 3, 16, 16) * 2 - 1;

        // The first batch sets the statistics (so the start is batch-normalized), later ones move them by the momentum.
        var y1 = unit.call(first);
        var conv1 = unit.Conv.call(first);
        Assert.True(norm.running_mean!.allclose(conv1.mean([0, 2, 3]), 1e-5, 1e-6));
        var meanBefore = norm.running_mean!.clone();
        var y2 = unit.call(second);
        var conv2 = unit.Conv.call(second);
        Assert.True(norm.running_mean!.allclose(meanBefore * 0.9 + conv2.mean([0, 2, 3]) * 0.1, 1e-5, 1e-6));

        // The training forward equals the eval forward with the statistics it has just updated...
        unit.eval();
        Assert.True(y2.allclose(unit.call(second), 1e-5, 1e-5));
        // ...and gradients still reach the conv and the affine parameters.
        unit.train();
        unit.call(second).square().sum().backward();
        Assert.True(norm.weight!.grad!.abs().sum().item<float>() > 0);
        Assert.True(unit.Conv.parameters().First().grad!.abs().sum().item<float>() > 0);

        // Batch mode differs on the same input: it normalizes by the batch's own statistics.
        unit.NormMode = BatchNormMode.Batch;
        using (no_grad()) Assert.False(unit.call(second).allclose(y2, 1e-3, 1e-3));
        _ = y1;
    }
}
