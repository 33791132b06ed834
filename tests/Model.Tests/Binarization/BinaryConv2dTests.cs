using BiVM.Model.Binarization;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Tests.Binarization;

public class BinaryConv2dTests
{
    [Fact]
    public void Sign_of_zero_is_plus_one_forward_and_through_the_ste()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -1.5f, -0f, 0f, 1e-8f, -1e-8f });
        Assert.Equal(new[] { -1f, 1f, 1f, 1f, -1f }, BinarySign.Hard(x).data<float>().ToArray());
        Assert.Equal(new[] { -1f, 1f, 1f, 1f, -1f }, BinarySign.WithClippedSte(x).data<float>().ToArray());
    }

    [Fact]
    public void Ste_passes_the_gradient_only_where_the_input_is_within_one()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -2f, -1f, -0.5f, 0f, 0.5f, 1f, 1.01f, 3f }).requires_grad_();
        (BinarySign.WithClippedSte(x) * tensor(new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f })).sum().backward();
        Assert.Equal(new[] { 0f, 2f, 3f, 4f, 5f, 6f, 0f, 0f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Forward_is_scale_times_a_plus_minus_one_conv_with_zero_padding()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var conv = new BinaryConv2d(4, 3, 3);
        using (no_grad()) conv.Tau.copy_(tensor(new[] { 0.1f, -0.2f, 0f, 0.3f }));
        var x = randn(2, 4, 5, 6);
        var y = conv.call(x);

        // Independent oracle: explicit loops over ±1 data, zero outside the image.
        var a = (x - conv.Tau.detach().view(1, -1, 1, 1)).data<float>().ToArray();
        var w = conv.LatentWeight.detach().data<float>().ToArray();
        var expected = new float[2 * 3 * 5 * 6];
        for (int n = 0; n < 2; n++)
        for (int co = 0; co < 3; co++)
        {
            double s = 0;
            for (int i = 0; i < 4 * 9; i++) s += Math.Abs(w[co * 36 + i]);
            s /= 36;
            for (int oy = 0; oy < 5; oy++)
            for (int ox = 0; ox < 6; ox++)
            {
                long acc = 0;
                for (int ci = 0; ci < 4; ci++)
                for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                {
                    int iy = oy + ky - 1, ix = ox + kx - 1;
                    if (iy < 0 || iy >= 5 || ix < 0 || ix >= 6) continue;
                    var av = a[((n * 4 + ci) * 5 + iy) * 6 + ix] >= 0 ? 1 : -1;
                    var wv = w[((co * 4 + ci) * 3 + ky) * 3 + kx] >= 0 ? 1 : -1;
                    acc += av * wv;
                }
                expected[((n * 3 + co) * 5 + oy) * 6 + ox] = (float)(s * acc);
            }
        }
        Assert.True(y.allclose(tensor(expected).view(2, 3, 5, 6), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Gradients_reach_tau_and_the_latent_weight_and_stop_where_clipped()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var conv = new BinaryConv2d(2, 2, 3);
        using (no_grad())
        {
            conv.LatentWeight[0, 0, 0, 0] = tensor(2f);   // |w| > 1: clipped
            conv.LatentWeight[1, 1, 1, 1] = tensor(0.3f);
        }
        // Channel 0 lies far outside [τ − 1, τ + 1] everywhere, channel 1 inside.
        var x = cat(new[] { full(1, 1, 4, 4, 5f), rand(1, 1, 4, 4) - 0.5f }, 1);
        conv.call(x).pow(2).sum().backward();
        var tauGrad = conv.Tau.grad!.data<float>().ToArray();
        Assert.Equal(0f, tauGrad[0]);
        Assert.NotEqual(0f, tauGrad[1]);
        var wGrad = conv.LatentWeight.grad!;
        Assert.Equal(0f, wGrad[0, 0, 0, 0].item<float>());
        Assert.NotEqual(0f, wGrad[1, 1, 1, 1].item<float>());
    }

    [Fact]
    public void Folded_batch_norm_reproduces_the_eval_forward()
    {
        using var scope = NewDisposeScope();
        manual_seed(13);
        var unit = new ConvBnAct(new ConvSpec(3, 4, 3, Stride: 2), ConvPrecision.Binary, ActivationKind.None);
        var norm = unit.Norm!;
        using (no_grad())
        {
            norm.running_mean!.copy_(randn(4));
            norm.running_var!.copy_(rand(4) + 0.5f);
            norm.weight!.copy_(randn(4));
            norm.bias!.copy_(randn(4));
        }
        unit.eval();
        var x = randn(1, 3, 7, 9);
        using var _ = no_grad();
        var expected = unit.call(x);
        var f = unit.FoldForExport();
        var a = BinarySign.Hard(x - f.Tau.view(1, -1, 1, 1));
        var y = functional.conv2d(a, f.SignWeight, strides: new[] { f.Stride, f.Stride }, padding: new[] { f.Padding, f.Padding })
            * f.Alpha.view(1, -1, 1, 1) + f.Bias.view(1, -1, 1, 1);
        Assert.Equal(new long[] { 1, 4, 4, 5 }, y.shape);
        Assert.True(y.allclose(expected, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void Folding_without_batch_norm_keeps_scale_and_conv_bias()
    {
        using var scope = NewDisposeScope();
        manual_seed(14);
        var conv = new BinaryConv2d(4, 2, 3, dilation: 2, hasBias: true);   // a ConvGRU-style gate conv
        var x = randn(1, 4, 6, 7);
        using var _ = no_grad();
        var f = FoldedBinaryConv.Fold(conv, null);
        Assert.Equal(2, f.Padding);
        var a = BinarySign.Hard(x - f.Tau.view(1, -1, 1, 1));
        var y = functional.conv2d(a, f.SignWeight, padding: new[] { f.Padding, f.Padding }, dilation: new[] { f.Dilation, f.Dilation })
            * f.Alpha.view(1, -1, 1, 1) + f.Bias.view(1, -1, 1, 1);
        Assert.True(y.allclose(conv.call(x), rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void Grouped_binary_convs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => LayerFactory.Conv(new ConvSpec(8, 8, 3, Groups: 8), ConvPrecision.Binary));
    }
}
