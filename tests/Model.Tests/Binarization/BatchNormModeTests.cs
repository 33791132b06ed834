using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Networks;
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
        unit.call(first);
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
    }

    [Fact]
    public void Frame_mode_normalizes_each_frame_by_itself_the_same_in_training_and_inference()
    {
        manual_seed(12);
        using var unit = new ConvBnAct(new ConvSpec(3, 8, 3), ConvPrecision.Binary, ActivationKind.None) { NormMode = BatchNormMode.Frame };
        var norm = unit.Norm!;
        using (no_grad()) { norm.weight!.uniform_(0.5, 1.5); norm.bias!.uniform_(-0.5, 0.5); }
        var a = rand(1, 3, 12, 20);
        var b = rand(1, 3, 12, 20) * 4 - 2;
        unit.train();
        var alone = unit.call(a);
        var together = unit.call(cat([a, b]))[0].unsqueeze(0);
        unit.eval();
        var inference = unit.call(a);
        // Another frame in the batch changes nothing, nor does the mode, and the running statistics are unused.
        Assert.True(alone.allclose(together, 1e-5, 1e-6));
        Assert.True(alone.allclose(inference, 1e-5, 1e-6));
        Assert.Equal(0, norm.num_batches_tracked!.item<long>());
        // By hand: the conv output's per-channel mean and biased variance over this frame's H×W, then ε, γ, β.
        var c = unit.Conv.call(a);
        var expected = (c - c.mean([2, 3], keepdim: true)) / (c.var([2, 3], unbiased: false, keepdim: true) + norm.eps).sqrt()
            * norm.weight!.view(1, -1, 1, 1) + norm.bias!.view(1, -1, 1, 1);
        Assert.True(alone.allclose(expected, 1e-4, 1e-5));
    }

    [Fact]
    public void A_frame_normalized_network_keeps_its_normalization_through_a_checkpoint()
    {
        manual_seed(13);
        var config = ModelConfig.For(ModelFamily.Bivm) with { Normalization = BatchNormMode.Frame };
        using var network = ModelFactory.Create(config);
        var units = network.modules().OfType<ConvBnAct>().ToList();
        var masked = network.modules().OfType<Shb>().Select(s => s.SparseConv).ToList();
        Assert.NotEmpty(masked);
        // SHB's masked 3×3 keeps running statistics (its exported kernel skips inactive rows); everything else is per frame.
        Assert.All(units.Except(masked), u => Assert.Equal(BatchNormMode.Frame, u.NormMode));
        Assert.All(masked, u => Assert.Equal(BatchNormMode.Running, u.NormMode));

        string dir = Directory.CreateTempSubdirectory("bivm-norm-").FullName;
        try
        {
            string path = Path.Combine(dir, "model.bin");
            ModelCheckpoint.Save(network, path);
            using var loaded = ModelCheckpoint.Load(path);
            Assert.Equal(BatchNormMode.Frame, loaded.Config.Normalization);
            Assert.Equal(units.Select(u => u.NormMode), loaded.modules().OfType<ConvBnAct>().Select(u => u.NormMode));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
