using BiVM.Model.Binarization;
using BiVM.Model.Cost;
using BiVM.Model.Decoder;
using BiVM.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Tests.Cost;

public class CostCounterTests
{
    [Fact]
    public void Full_precision_conv_counts_macs_parameters_and_32_bits()
    {
        using var conv = Conv2d(3, 8, 3, padding: 1, bias: false);
        var report = CostCounter.Measure(conv, new long[] { 1, 3, 10, 12 });
        var row = Assert.Single(report.Layers);
        Assert.Equal(LayerKind.Conv, row.Kind);
        Assert.Equal(8.0 * 10 * 12 * 3 * 9, row.Macs);   // outputs × Cin·k²
        Assert.Equal(row.Macs, row.Flops);
        Assert.Equal(216, row.Parameters);
        Assert.Equal(216 * 32, report.StoredBits);
    }

    [Fact]
    public void Stride_and_groups_are_counted()
    {
        using var strided = Conv2d(3, 4, 3, stride: 2, padding: 1, bias: true);
        Assert.Equal(4.0 * 4 * 5 * 27, CostCounter.Measure(strided, new long[] { 1, 3, 7, 9 }).Macs);   // 7×9 → 4×5
        using var depthwise = Conv2d(8, 8, 3, padding: 1, groups: 8, bias: false);
        Assert.Equal(8.0 * 25 * 9, CostCounter.Measure(depthwise, new long[] { 1, 8, 5, 5 }).Macs);
    }

    [Fact]
    public void Binary_conv_counts_one_sixty_fourth_and_one_bit_weights()
    {
        using var conv = new BinaryConv2d(4, 8, 3);
        var report = CostCounter.Measure(conv, new long[] { 1, 4, 6, 6 });
        var row = Assert.Single(report.Layers);
        Assert.Equal(LayerKind.BinaryConv, row.Kind);
        Assert.Equal(8.0 * 36 * 36, row.Macs);
        Assert.Equal(8.0 * 36 * 36 / 64, row.Flops);
        Assert.Equal(288 + 4, row.Parameters);            // weights + τ
        Assert.Equal(288 + 4 * 32, row.StoredBits);       // 1-bit weights, 32-bit τ
    }

    [Fact]
    public void Shb_masked_conv_scales_with_the_mask_density()
    {
        var shb = new Shb(4, 4, maskScale: 1, ConvPrecision.Binary, ActivationKind.None);
        var wrapper = new ShbWithFullMask(shb);
        var dense = CostCounter.Measure(wrapper, new long[] { 1, 4, 8, 8 }, maskDensity: 1);
        var quarter = CostCounter.Measure(wrapper, new long[] { 1, 4, 8, 8 }, maskDensity: 0.25);
        var conv3 = 4.0 * 64 * 36;
        var conv1 = 4.0 * 64 * 4;
        Assert.Equal((conv3 + conv1) / 64, dense.Flops, 6);
        Assert.Equal((conv3 * 0.25 + conv1) / 64, quarter.Flops, 6);
        Assert.Contains(quarter.Layers, l => l.Kind == LayerKind.SparseBinaryConv);
    }

    [Fact]
    public void Rvm_parameter_count_matches_the_published_model()
    {
        // 3,748,633 counted from RVM's code (rvm-architecture.md §5); independent of the input size.
        using var rvm = ModelFactory.Create(ModelFamily.Rvm);
        var report = CostCounter.Measure(rvm, 36, 64);
        Assert.Equal(3_748_633, report.Parameters);
        Assert.Equal(0, report.BinaryWeights);
        Assert.Equal(3_748_633 * 4 / 1e6, report.StoredMegabytes, 6);
        Assert.True(report.Layers.All(l => l.Kind is LayerKind.Conv or LayerKind.Parameters));
    }

    private sealed class ShbWithFullMask : Module<Tensor, Tensor>
    {
        private readonly Shb shb;

        public ShbWithFullMask(Shb shb) : base(nameof(ShbWithFullMask))
        {
            this.shb = shb;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => shb.call(x, ones(x.shape[0], 1, x.shape[2], x.shape[3]));
    }
}
