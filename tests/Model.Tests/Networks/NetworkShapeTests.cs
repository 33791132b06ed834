using BiVM.Model.Decoder;
using BiVM.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Networks;

/// <summary>Graph I/O shapes (docs/model-contract.md) for the three families.</summary>
public class NetworkShapeTests
{
    private static long Ceil(long x, long k) => (x + k - 1) / k;

    private static void AssertState(RecurrentState state, long[] channels, long batch, long h, long w)
    {
        var rs = new[] { state.R1, state.R2, state.R3, state.R4 };
        var scales = new long[] { 2, 4, 8, 16 };
        for (var i = 0; i < 4; i++)
            Assert.Equal(new[] { batch, channels[i], Ceil(h, scales[i]), Ceil(w, scales[i]) }, rs[i].shape);
    }

    [Theory]
    [InlineData(ModelFamily.Rvm, 36, 64)]
    [InlineData(ModelFamily.RvmReact, 36, 64)]
    [InlineData(ModelFamily.Bivm, 36, 64)]
    [InlineData(ModelFamily.Bivm, 37, 63)]
    [InlineData(ModelFamily.RvmReact, 35, 49)]
    public void Single_frame_batch_two_gives_contract_shapes(ModelFamily family, long h, long w)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var net = ModelFactory.Create(family);
        net.eval();
        using var _ = no_grad();
        var output = net.call(rand(2, 3, h, w), null, 1.0);
        Assert.Equal(new[] { 2L, 3, h, w }, output.Fgr.shape);
        Assert.Equal(new[] { 2L, 1, h, w }, output.Pha.shape);
        AssertState(output.State, net.StateChannels, 2, h, w);
        Assert.InRange(output.Pha.min().item<float>(), 0f, 1f);
        Assert.InRange(output.Pha.max().item<float>(), 0f, 1f);
        Assert.Equal(family == ModelFamily.Bivm, output.Mask is not null);
    }

    [Theory]
    [InlineData(ModelFamily.Bivm, 80, 40, 16, 8)]
    [InlineData(ModelFamily.Rvm, 40, 20, 16, 6)]
    [InlineData(ModelFamily.RvmReact, 80, 20, 32, 4)]
    public void Decoder_widths_set_the_blocks_and_the_state(ModelFamily family, long d3, long d2, long d1, long d0)
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        using var net = ModelFactory.Create(family, ModelConfig.For(family) with { DecoderChannels = [d3, d2, d1, d0] });
        net.eval();
        using var _ = no_grad();
        // Through the DGF (ratio 0.5) too: its hidden input has decode0's channels.
        foreach (double ratio in new[] { 1.0, 0.5 })
        {
            var output = net.call(rand(1, 3, 36, 64), null, ratio);
            Assert.Equal(new[] { 1L, 1, 36, 64 }, output.Pha.shape);
            Assert.Equal(new[] { d1 / 2, d2 / 2, d3 / 2, 64 }, net.StateChannels);
            AssertState(output.State, net.StateChannels, 1, ratio == 1.0 ? 36 : 18, ratio == 1.0 ? 64 : 32);
        }
    }

    [Theory]
    [InlineData("80,40,15,8")]
    [InlineData("80,40,16,0")]
    [InlineData("0,40,16,8")]
    [InlineData("80,40,16")]
    public void Decoder_widths_a_decoder_cannot_have_are_refused(string widths)
    {
        long[] channels = widths.Split(',').Select(long.Parse).ToArray();
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.Create(ModelFamily.Bivm, ModelConfig.For(ModelFamily.Bivm) with { DecoderChannels = channels }));
        Assert.Contains("decoderChannels", e.Message);
    }

    [Fact]
    public void Clip_input_returns_clip_outputs_and_the_last_frame_state()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        using var net = ModelFactory.Create(ModelFamily.Bivm);
        net.eval();
        using var _ = no_grad();
        var output = net.call(rand(new long[] { 2, 3, 3, 36, 64 }), null, 1.0);
        Assert.Equal(new[] { 2L, 3, 3, 36, 64 }, output.Fgr.shape);
        Assert.Equal(new[] { 2L, 3, 1, 36, 64 }, output.Pha.shape);
        AssertState(output.State, net.StateChannels, 2, 36, 64);
    }

    [Fact]
    public void Downsample_ratio_runs_the_guided_filter_back_to_full_size()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var net = ModelFactory.Create(ModelFamily.RvmReact);
        net.eval();
        using var _ = no_grad();
        var output = net.call(rand(1, 3, 72, 128), null, 0.5);
        Assert.Equal(new[] { 1L, 3, 72, 128 }, output.Fgr.shape);
        Assert.Equal(new[] { 1L, 1, 72, 128 }, output.Pha.shape);
        // The state lives at the working resolution (36×64).
        AssertState(output.State, net.StateChannels, 1, 36, 64);
    }

    [Fact]
    public void Odd_513x289_frame_in_eval_mode()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var net = ModelFactory.Create(ModelFamily.Bivm);
        net.eval();
        using var _ = no_grad();
        var output = net.call(rand(1, 3, 289, 513), null, 1.0);
        Assert.Equal(new[] { 1L, 1, 289, 513 }, output.Pha.shape);
        AssertState(output.State, net.StateChannels, 1, 289, 513);
        Assert.Equal(new[] { 1L, 1, Ceil(289, 16), Ceil(513, 16) }, output.Mask!.shape);
    }

    [Fact]
    public void Zero_1x1x1x1_states_are_accepted_like_the_onnx_first_frame()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var net = ModelFactory.Create(ModelFamily.Rvm);
        net.eval();
        using var _ = no_grad();
        var src = rand(1, 3, 36, 64);
        var none = net.call(src, null, 1.0);
        var z = zeros(1, 1, 1, 1);
        var zero = net.call(src, new RecurrentState(z, z, z, z), 1.0);
        Assert.True(none.Pha.allclose(zero.Pha));
        Assert.True(none.State.R1.allclose(zero.State.R1));
    }

    [Theory]
    [InlineData(ModelFamily.Rvm, "backbone.blocks.3.depthwise.conv.weight", "decoder.decode3.conv.conv.bn.running_var", "refiner.box_filter.weight")]
    [InlineData(ModelFamily.RvmReact, "backbone.blocks.3.expand.conv.tau", "decoder.decode4.gru.ih.weight", "aspp.aspp1.act.prelu.weight")]
    [InlineData(ModelFamily.Bivm, "backbone.blocks.5.gamma_b", "decoder.decode0.conv2.shb.sparse_conv3.conv.weight", "decoder.decode1.conv.shb.conv1.bn.weight")]
    public void Checkpoint_keys_are_the_field_paths(ModelFamily family, params string[] keys)
    {
        using var net = ModelFactory.Create(family);
        var stateDict = net.state_dict();
        foreach (var key in keys) Assert.True(stateDict.ContainsKey(key), $"{key} missing");
    }
}
