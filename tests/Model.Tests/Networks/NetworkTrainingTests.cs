using BiVM.Model.Binarization;
using BiVM.Model.Encoder;
using BiVM.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Networks;

public class NetworkTrainingTests
{
    [Fact]
    public void An_alpha_clamped_to_zero_everywhere_still_gets_a_gradient_in_training_and_is_exact_in_eval()
    {
        using var scope = NewDisposeScope();
        manual_seed(52);
        using var net = ModelFactory.Create(ModelFamily.Rvm);
        var projection = net.named_modules().Single(m => m.name == "project_mat").module;
        using (no_grad()) projection.named_parameters().Single(p => p.name == "bias").parameter[3] = -100f;   // the alpha channel
        var src = rand(new long[] { 1, 3, 32, 32 });

        net.train();
        var output = net.call(src, null, 1.0);
        Assert.Equal(0f, output.Pha.max().item<float>());   // the forward is RVM's clamp...
        (1 - output.Pha).abs().mean().backward();
        var grad = projection.named_parameters().Single(p => p.name == "weight").parameter.grad!;
        Assert.True(grad.abs().sum().item<float>() > 0, "no gradient reaches an alpha clamped below 0: the network could never leave 'all background'");

        net.eval();
        using (no_grad()) Assert.Equal(0f, net.call(src, null, 1.0).Pha.abs().max().item<float>());
    }

    [Fact]
    public void A_few_adam_steps_on_one_tiny_clip_lower_the_alpha_l1()
    {
        using var scope = NewDisposeScope();
        manual_seed(51);
        using var net = ModelFactory.Create(ModelFamily.Bivm);
        net.train();
        var src = rand(new long[] { 1, 2, 3, 32, 32 });
        // A soft disc: something a matting network can fit.
        var yy = linspace(-1, 1, 32).view(32, 1);
        var xx = linspace(-1, 1, 32).view(1, 32);
        var alpha = nn.functional.sigmoid((0.5f - (yy * yy + xx * xx).sqrt()) * 8).expand(1, 2, 1, 32, 32);
        // The 1-bit rate of configs/ (2e-3); single steps of a binary network are noisy (a flipped sign
        // moves the loss either way), so the test compares the mean of the last five steps with the first.
        var optimizer = optim.Adam(net.parameters(), lr: 2e-3);
        var losses = new List<float>();
        for (int step = 0; step < 20; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var output = net.call(src, null, 1.0);
            var loss = (output.Pha - alpha).abs().mean();
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }
        Assert.True(losses.TakeLast(5).Average() < losses[0] * 0.9, $"losses: {string.Join(", ", losses)}");
    }

    [Fact]
    public void Gradients_reach_taus_gammas_and_latent_weights_of_the_whole_bivm()
    {
        using var scope = NewDisposeScope();
        manual_seed(52);
        using var net = (Bivm)ModelFactory.Create(ModelFamily.Bivm);
        net.train();
        var output = net.call(rand(2, 3, 32, 48), null, 1.0);
        (output.Pha.mean() + output.Fgr.mean() + net.EbbRegularizer()).backward();

        var binary = net.modules().OfType<BinaryConv2d>().ToList();
        Assert.True(binary.Count > 50);
        var withTauGrad = binary.Count(c => c.Tau.grad is { } g && g.abs().sum().item<float>() > 0);
        var withWeightGrad = binary.Count(c => c.LatentWeight.grad is { } g && g.abs().sum().item<float>() > 0);
        // A masked-out SHB branch or a channel far from its threshold may see no gradient; nearly all do.
        Assert.True(withTauGrad > binary.Count * 0.9, $"{withTauGrad} of {binary.Count} τ have gradients");
        Assert.True(withWeightGrad > binary.Count * 0.9, $"{withWeightGrad} of {binary.Count} weights have gradients");
        foreach (var block in net.Encoder.Blocks)
            foreach (var gamma in block.LayerGammas.Concat(block.CrossLayerGammas).Append(block.BlockGamma))
                Assert.NotEqual(0f, gamma.grad!.item<float>());
    }

    [Fact]
    public void A_clip_equals_its_frames_run_one_by_one_with_the_state_fed_back()
    {
        using var scope = NewDisposeScope();
        manual_seed(53);
        // 1-bit: the ±1 convs sum exact integers, so batching cannot flip a later sign (see BinaryConv2d).
        using var net = ModelFactory.Create(ModelFamily.Bivm);
        net.eval();
        using var _ = no_grad();
        var clip = rand(new long[] { 1, 3, 3, 32, 48 });
        var whole = net.call(clip, null, 1.0);
        var first = net.call(clip[.., 0], null, 1.0);
        var second = net.call(clip[.., 1], first.State, 1.0);
        var third = net.call(clip[.., 2], second.State, 1.0);
        var diff = (whole.Pha[.., 2] - third.Pha).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max |Δpha| = {diff}");
        Assert.True(whole.Pha[.., 0].allclose(first.Pha, atol: 1e-5));
        Assert.True(whole.State.R1.allclose(third.State.R1, atol: 1e-5));
        Assert.True(whole.State.R4.allclose(third.State.R4, atol: 1e-5));
        // And the state matters.
        var fresh = net.call(clip[.., 2], null, 1.0);
        Assert.False(fresh.State.R1.allclose(third.State.R1, atol: 1e-4));
    }

    [Fact]
    public void Full_precision_bivm_has_the_same_topology_without_binary_convs()
    {
        using var binary = ModelFactory.Create(ModelFamily.Bivm);
        using var full = ModelFactory.Create(ModelFamily.Bivm, ModelConfig.For(ModelFamily.Bivm, fullPrecision: true));
        Assert.Empty(full.modules().OfType<BinaryConv2d>());
        Assert.NotEmpty(binary.modules().OfType<BinaryConv2d>());
        Assert.Equal(binary.modules().OfType<Ebb>().Count(), full.modules().OfType<Ebb>().Count());
        Assert.Throws<ArgumentException>(() => ModelFactory.Create(ModelFamily.Rvm, ModelConfig.For(ModelFamily.Rvm, fullPrecision: true)));
    }
}
