using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Decoder;

public class ShbTests
{
    private static Shb TrainedLookingShb()
    {
        var shb = new Shb(6, 4, maskScale: 2, ConvPrecision.Binary, ActivationKind.RPReLU);
        using (no_grad())
        {
            // Non-trivial BN statistics, so that "0 where masked out" is not an accident of β = 0.
            foreach (var norm in new[] { shb.SparseConv.Norm!, shb.DenseConv.Norm! })
            {
                norm.running_mean!.copy_(randn(4));
                norm.running_var!.copy_(rand(4) + 0.5f);
                norm.bias!.copy_(randn(4));
            }
        }
        shb.eval();
        return shb;
    }

    [Fact]
    public void All_ones_mask_equals_the_dense_computation()
    {
        using var scope = NewDisposeScope();
        manual_seed(31);
        var shb = TrainedLookingShb();
        using var _ = no_grad();
        var x = randn(2, 6, 7, 9);
        var dense = shb.SparseConv.ForwardNoActivation(x) + shb.DenseConv.ForwardNoActivation(x);
        var rpRelu = new RPReLU(4);
        var viaShb = shb.call(x, ones(2, 1, 4, 5));
        // The SHB's own activation is an RPReLU with fresh (identity-shift) parameters, like this one.
        Assert.True(viaShb.allclose(rpRelu.call(dense)));
    }

    [Fact]
    public void Partial_mask_keeps_the_dense_values_on_active_positions_and_zeros_elsewhere()
    {
        using var scope = NewDisposeScope();
        manual_seed(32);
        var shb = TrainedLookingShb();
        using var _ = no_grad();
        var x = randn(1, 6, 7, 9);
        var coarse = tensor(new float[] { 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0 }).view(1, 1, 4, 5);
        var sparse = shb.SparseBranch(x, coarse);
        var dense = shb.SparseConv.ForwardNoActivation(x);
        var s = sparse.data<float>().ToArray();
        var d = dense.data<float>().ToArray();
        var m = coarse.data<float>().ToArray();
        int active = 0;
        for (int c = 0; c < 4; c++)
        for (int y = 0; y < 7; y++)
        for (int xx = 0; xx < 9; xx++)
        {
            var i = (c * 7 + y) * 9 + xx;
            if (m[(y / 2) * 5 + xx / 2] != 0) { Assert.Equal(d[i], s[i]); active++; }
            else Assert.Equal(0f, s[i]);
        }
        Assert.True(active > 0 && active < 4 * 7 * 9);
    }

    [Fact]
    public void Mask_upsampling_repeats_then_crops_and_checks_the_shape()
    {
        using var scope = NewDisposeScope();
        var coarse = tensor(new float[] { 1, 0, 0, 1 }).view(1, 1, 2, 2);
        var up = IncoherentMask.Upsample(coarse, 4, 5, 7).data<float>().ToArray();
        for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++)
            Assert.Equal(coarse[0, 0, y / 4, x / 4].item<float>(), up[y * 7 + x]);
        // ceil(9/4) = 3 rows are needed for a 9-row output.
        Assert.Throws<ArgumentException>(() => IncoherentMask.Upsample(coarse, 4, 9, 7));
    }

    [Fact]
    public void Threshold_maximises_the_entropy_of_the_masked_signs()
    {
        using var scope = NewDisposeScope();
        manual_seed(33);
        var densities = new[] { 0.1, 0.25, 0.5, 0.75 };
        var maker = new IncoherentMask(densities);
        var f = randn(3, 5, 6, 8) + linspace(-1, 2, 8).view(1, 1, 1, 8);
        var mask = maker.Compute(f);
        Assert.Equal(new long[] { 3, 1, 6, 8 }, mask.shape);

        // Oracle: for each frame, try every candidate threshold and keep the first best entropy.
        var d = (f - Resample.Up2To(Resample.Down2(f), 6, 8)).abs().mean(new long[] { 1 });
        for (int n = 0; n < 3; n++)
        {
            var dn = d[n].flatten().data<float>().ToArray();
            var fn = f[n].data<float>().ToArray();
            var sorted = dn.OrderBy(v => v).ToArray();
            double bestEntropy = -1;
            float bestTau = 0;
            foreach (var density in densities)
            {
                var tau = sorted[(int)Math.Floor((1 - density) * 48)];
                long masked = 0, positive = 0;
                for (int c = 0; c < 5; c++)
                for (int p = 0; p < 48; p++)
                {
                    if (dn[p] < tau) continue;
                    masked++;
                    if (fn[c * 48 + p] >= 0) positive++;
                }
                var q = Math.Clamp((double)positive / masked, 1e-12, 1 - 1e-12);
                var entropy = -(q * Math.Log(q) + (1 - q) * Math.Log(1 - q));
                if (entropy > bestEntropy + 1e-9) { bestEntropy = entropy; bestTau = tau; }
            }
            var expected = dn.Select(v => v >= bestTau ? 1f : 0f).ToArray();
            Assert.Equal(expected, mask[n].flatten().data<float>().ToArray());
        }
    }
}
