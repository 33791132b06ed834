using BiVM.Model.Binarization;
using BiVM.Model.Encoder;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Encoder;

public class EbbTests
{
    [Fact]
    public void Channel_map_averages_splits_repeats_and_pools()
    {
        using var scope = NewDisposeScope();
        var x = arange(4f).view(1, 4, 1, 1);
        Assert.Equal(new[] { 1f, 2f }, ChannelMap.Map(x, 2).data<float>().ToArray());           // (0+2)/2, (1+3)/2
        Assert.Equal(new[] { 0f, 1f, 2f, 3f, 0f, 1f, 2f, 3f }, ChannelMap.Map(x, 8).data<float>().ToArray());
        Assert.Equal(x.data<float>().ToArray(), ChannelMap.Map(x, 4).data<float>().ToArray());
        var image = arange(9f).view(1, 1, 3, 3);
        // ceil-mode 2×2 average without padding: [[0,1,3,4], [2,5], [6,7], [8]].
        Assert.Equal(new[] { 2f, 3.5f, 6.5f, 8f }, ChannelMap.Map(image, 1, stride: 2).data<float>().ToArray());
        Assert.Throws<ArgumentException>(() => ChannelMap.Map(zeros(1, 6, 1, 1), 4));
    }

    [Fact]
    public void Gammas_start_as_the_paper_says_and_all_receive_gradients()
    {
        using var scope = NewDisposeScope();
        manual_seed(21);
        var block = new Ebb(new EbbPlan(new SubEbbPlan(8, 16, Stride: 2), new SubEbbPlan(16, 32), new SubEbbPlan(32, 16)), ConvPrecision.Binary);
        Assert.All(block.LayerGammas, g => Assert.Equal(1f, g.item<float>()));
        Assert.All(block.CrossLayerGammas.Append(block.BlockGamma), g => Assert.InRange(g.item<float>(), 0f, 1e-3f));

        var y = block.call(randn(2, 8, 9, 11));
        Assert.Equal(new long[] { 2, 16, 5, 6 }, y.shape);
        (y.pow(2).mean() + block.Regularizer()).backward();
        foreach (var g in block.LayerGammas.Concat(block.CrossLayerGammas).Append(block.BlockGamma))
            Assert.NotEqual(0f, g.grad!.item<float>());
        var taus = block.modules().OfType<BinaryConv2d>().ToList();
        Assert.Equal(6, taus.Count);
        Assert.All(taus, c => Assert.True(c.Tau.grad!.abs().sum().item<float>() > 0));
        Assert.All(taus, c => Assert.True(c.LatentWeight.grad!.abs().sum().item<float>() > 0));
    }

    [Fact]
    public void Regularizer_is_the_sum_of_cross_layer_and_block_gamma_magnitudes()
    {
        using var scope = NewDisposeScope();
        var block = new Ebb(new EbbPlan(new SubEbbPlan(4, 4), new SubEbbPlan(4, 8), new SubEbbPlan(8, 4)), ConvPrecision.Full);
        using (no_grad())
        {
            block.CrossLayerGammas[0].fill_(0.5f);
            block.CrossLayerGammas[1].fill_(-0.25f);
            block.BlockGamma.fill_(2f);
        }
        Assert.Equal(2.75f, block.Regularizer().item<float>(), 6);
    }

    [Fact]
    public void Encoder_follows_table_5_scales_and_channels()
    {
        using var scope = NewDisposeScope();
        manual_seed(22);
        var encoder = new EbbEncoder(EbbEncoderPlan.Table5, ConvPrecision.Binary);
        encoder.eval();
        using var _ = no_grad();
        var f = encoder.call(rand(1, 3, 36, 64));
        Assert.Equal(new long[] { 1, 16, 18, 32 }, f.F1.shape);
        Assert.Equal(new long[] { 1, 32, 9, 16 }, f.F2.shape);
        Assert.Equal(new long[] { 1, 64, 5, 8 }, f.F3.shape);
        Assert.Equal(new long[] { 1, 1024, 3, 4 }, f.F4.shape);
        Assert.Equal(new long[] { 16, 32, 64, 128 }, EbbEncoderPlan.Table5.FeatureChannels);
    }
}
