using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// RVM's Deep Guided Filter refiner (rvm-architecture.md §4). Runs at the working (downsampled) size,
/// then A and b are resized bilinearly to full size: out = A·[src, mean_rgb(src)] + b.
/// The 3×3 box filter (depthwise, init 1/9, trained) and the last 1×1 (16→4, the output layer) stay
/// 32-bit; the two hidden 1×1s are binarized in the 1-bit families (paper appendix C).
/// </summary>
public sealed class DeepGuidedFilter : Module<Tensor, Tensor, Tensor, Tensor, Tensor, (Tensor Fgr, Tensor Pha)>
{
    private readonly Module<Tensor, Tensor> box_filter;
    private readonly ConvBnAct conv1;
    private readonly ConvBnAct conv2;
    private readonly Module<Tensor, Tensor> conv3;

    public DeepGuidedFilter(long hiddenChannels, ConvPrecision precision, ActivationKind activation) : base(nameof(DeepGuidedFilter))
    {
        box_filter = LayerFactory.Conv(new ConvSpec(4, 4, 3, Groups: 4), ConvPrecision.Full);
        using (no_grad()) box_filter.parameters().First().fill_(1.0 / 9);
        conv1 = new ConvBnAct(new ConvSpec(4 * 2 + hiddenChannels, hiddenChannels, 1), precision, activation);
        conv2 = new ConvBnAct(new ConvSpec(hiddenChannels, hiddenChannels, 1), precision, activation);
        conv3 = LayerFactory.Conv(new ConvSpec(hiddenChannels, 4, 1, Bias: true), ConvPrecision.Full);
        RegisterComponents();
    }

    public override (Tensor Fgr, Tensor Pha) forward(Tensor fineSource, Tensor baseSource, Tensor baseFgr, Tensor basePha, Tensor baseHidden)
    {
        var fineX = cat(new[] { fineSource, fineSource.mean(new long[] { 1 }, keepdim: true) }, 1);
        var baseX = cat(new[] { baseSource, baseSource.mean(new long[] { 1 }, keepdim: true) }, 1);
        var baseY = cat(new[] { baseFgr, basePha }, 1);
        var meanX = box_filter.call(baseX);
        var meanY = box_filter.call(baseY);
        var covXY = box_filter.call(baseX * baseY) - meanX * meanY;
        var varX = box_filter.call(baseX * baseX) - meanX * meanX;
        var a = conv3.call(conv2.call(conv1.call(cat(new[] { covXY, varX, baseHidden }, 1))));
        var b = meanY - a * meanX;
        var (h, w) = (fineSource.shape[2], fineSource.shape[3]);
        var output = Resample.BilinearTo(a, h, w) * fineX + Resample.BilinearTo(b, h, w);
        var parts = output.split(new long[] { 3, 1 }, 1);
        return (parts[0], parts[1]);
    }
}
