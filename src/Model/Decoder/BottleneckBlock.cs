using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>decode4 at 1/16: split the LR-ASPP output in halves, ConvGRU on the second half, concatenate.</summary>
public sealed class BottleneckBlock : Module<Tensor, Tensor?, long, (Tensor Output, Tensor State)>
{
    private readonly ConvGru gru;

    public BottleneckBlock(long channels, ConvPrecision precision) : base(nameof(BottleneckBlock))
    {
        gru = new ConvGru(channels / 2, precision);
        RegisterComponents();
    }

    public override (Tensor Output, Tensor State) forward(Tensor x, Tensor? state, long frames)
    {
        var halves = x.chunk(2, 1);
        var (b, r) = gru.call(halves[1], state, frames);
        return (cat(new[] { halves[0], b }, 1), r);
    }
}
