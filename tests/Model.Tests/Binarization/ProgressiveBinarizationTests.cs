using BiVM.Model.Binarization;
using BiVM.Model.Networks;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Tests.Binarization;

/// <summary>
/// Progressive binarization: at β = 0 a 1-bit network computes the 32-bit function of its latent weights, at β = 1 it
/// is exactly the 1-bit network that exports, and in between a blend whose 1-bit part is brought to the 32-bit part's
/// scale by a factor that fades to 1.
/// </summary>
public class ProgressiveBinarizationTests
{
    [Fact]
    public void A_binary_conv_at_zero_is_the_32bit_conv_of_its_latent_weights_and_at_one_unchanged()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var conv = new BinaryConv2d(5, 4, 3, hasBias: true);
        using (no_grad()) conv.Tau.copy_(randn(5) * 0.1);
        var x = randn(2, 5, 7, 6);
        var binary = conv.call(x);

        conv.Binarization = 0;
        var real = functional.conv2d(x, conv.LatentWeight, conv.Bias, padding: new long[] { 1, 1 });
        Assert.True(conv.call(x).allclose(real, rtol: 0, atol: 1e-6), "β = 0 is not the 32-bit conv");

        conv.Binarization = 1;
        Assert.True(conv.call(x).equal(binary).all().item<bool>(), "β = 1 changed the 1-bit conv");
    }

    [Fact]
    public void Between_the_two_it_is_the_blend_and_calibrated_gains_bring_the_1bit_part_to_the_32bit_parts_rms()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var conv = new BinaryConv2d(6, 3, 1);
        var x = randn(2, 6, 5, 5) * 7;   // far from ±1, so the two parts' scales differ
        var bin = conv.call(x);
        conv.Binarization = 0;
        var real = conv.call(x);
        conv.Binarization = 0.25;
        Assert.True(conv.call(x).allclose(bin * 0.25 + real * 0.75, rtol: 1e-5, atol: 1e-5));

        var dims = new long[] { 0, 2, 3 };
        var ratio = (real.square().mean(dims) / bin.square().mean(dims)).sqrt();
        Assert.True(ratio.min().item<float>() > 2, "the test needs parts on different scales");
        conv.Binarization = 0;
        Assert.Equal(1, ProgressiveBinarization.CalibrateGains(conv, () => conv.call(x)));
        Assert.True(conv.Gain.allclose(ratio, rtol: 1e-4, atol: 0), $"gain {string.Join(", ", conv.Gain.data<float>().ToArray())} against {string.Join(", ", ratio.data<float>().ToArray())}");
        Assert.True(conv.call(x).allclose(real, rtol: 0, atol: 1e-6), "the gain must not touch the 32-bit part");
        conv.Binarization = 1;
        var gained = conv.call(x);
        Assert.True(gained.allclose(bin * conv.Gain.view(1, -1, 1, 1), rtol: 1e-5, atol: 1e-5));
        Assert.True(gained.square().mean(dims).sqrt().allclose(real.square().mean(dims).sqrt(), rtol: 1e-4, atol: 0));
        // ... and it is part of what exports: the scale the folded conv writes.
        Assert.True(conv.Scale().allclose(conv.LatentWeight.abs().mean(new long[] { 1, 2, 3 }) * ratio, rtol: 1e-5, atol: 0));
    }

    [Fact]
    public void The_gradient_reaches_the_latent_weight_through_both_parts()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var conv = new BinaryConv2d(4, 2, 1) { Binarization = 0.5 };
        conv.call(randn(1, 4, 3, 3)).sum().backward();
        Assert.True(conv.LatentWeight.grad is { } g && g.abs().sum().item<float>() > 0);
        Assert.True(conv.Tau.grad is { } t && t.abs().sum().item<float>() > 0, "τ gets no gradient from the 1-bit part");
    }

    [Theory]
    [InlineData(ActivationKind.Relu)]
    [InlineData(ActivationKind.Hardswish)]
    public void An_rprelu_at_zero_is_the_activation_it_replaces(ActivationKind from)
    {
        using var scope = NewDisposeScope();
        var act = new RPReLU(3, from);
        var x = linspace(-5, 5, 3 * 11).view(1, 3, 11, 1);
        var rprelu = act.call(x);
        act.Binarization = 0;
        var expected = from == ActivationKind.Hardswish ? functional.hardswish(x) : functional.relu(x);
        Assert.True(act.call(x).equal(expected).all().item<bool>());
        act.Binarization = 0.25;
        Assert.True(act.call(x).allclose(rprelu * 0.25 + expected * 0.75, rtol: 0, atol: 1e-6));
        Assert.Throws<ArgumentException>(() => new RPReLU(3, ActivationKind.None));
    }

    [Fact]
    public void Set_reaches_every_binary_conv_and_rprelu_and_out_of_range_is_refused()
    {
        using var network = ModelFactory.Create(ModelFamily.RvmReact);
        int modules = ProgressiveBinarization.Set(network, 0.3);
        Assert.Equal(network.modules().Count(m => m is BinaryConv2d or RPReLU), modules);
        Assert.Equal(0.3, ProgressiveBinarization.Of(network));
        network.modules().OfType<RPReLU>().First().Binarization = 1;
        Assert.Throws<InvalidOperationException>(() => ProgressiveBinarization.Of(network));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProgressiveBinarization.Set(network, 1.5));
        using var rvm = ModelFactory.Create(ModelFamily.Rvm);
        Assert.Equal(1, ProgressiveBinarization.Of(rvm));
    }

    [Theory]
    [InlineData(0, 4, 0.0)]
    [InlineData(1, 4, 0.25)]
    [InlineData(4, 4, 1.0)]
    [InlineData(9, 4, 1.0)]
    [InlineData(0, 0, 1.0)]
    public void The_ramp_rises_linearly_and_stays_at_one(long step, long steps, double expected) =>
        Assert.Equal(expected, ProgressiveBinarization.At(step, steps));

    /// <summary>
    /// The point of it: RVM-ReActNet with an RVM's weights, slopes at 0 and β = 0 computes that RVM (ReLU and
    /// Hardswish where RVM has them; the depthwise convs were 32-bit already), so training starts from its function.
    /// </summary>
    [Fact]
    public void Rvm_react_at_zero_with_rvm_weights_is_that_rvm()
    {
        using var scope = NewDisposeScope();
        manual_seed(8);
        using var rvm = ModelFactory.Create(ModelConfig.For(ModelFamily.Rvm) with { Normalization = BatchNormMode.Fixed });
        using var react = ModelFactory.Create(ModelConfig.For(ModelFamily.RvmReact) with { Normalization = BatchNormMode.Fixed });
        var from = rvm.state_dict();
        using (no_grad())
        {
            // Non-trivial fixed BatchNorms, so that a BN left out or applied twice would show.
            foreach (var (name, t) in from)
                if (name.EndsWith("running_var")) t.uniform_(0.5, 2);
                else if (name.EndsWith("running_mean")) t.normal_(0, 0.2);
            foreach (var (name, t) in react.state_dict())
                if (from.TryGetValue(name, out var v) && v.shape.SequenceEqual(t.shape)) t.copy_(v);
        }
        Assert.Equal(react.modules().Count(m => m is RPReLU), ProgressiveBinarization.StartFromRelu(react));
        ProgressiveBinarization.Set(react, 0);
        rvm.eval();
        react.eval();
        using var _ = no_grad();
        var src = rand(new long[] { 1, 2, 3, 64, 96 });
        var a = rvm.call(src, null, 1.0);
        var b = react.call(src, null, 1.0);
        Assert.True(b.Pha.allclose(a.Pha, rtol: 0, atol: 1e-5), $"pha differs by {(b.Pha - a.Pha).abs().max().item<float>()}");
        Assert.True(b.Fgr.allclose(a.Fgr, rtol: 0, atol: 1e-5), $"fgr differs by {(b.Fgr - a.Fgr).abs().max().item<float>()}");
        ProgressiveBinarization.Set(react, 1);
        Assert.False(react.call(src, null, 1.0).Pha.allclose(a.Pha, rtol: 0, atol: 1e-3), "at β = 1 it should be the 1-bit network, not RVM");
    }
}
