using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// RVM's upsampling block (decode3, decode2, decode1; SHB₁..SHB₃ in paper table 6): bilinear ×2 and crop to
/// the skip's size, concatenate [x, f_k, s_k], 3×3 conv (or SHB), then ConvGRU on the second half.
/// </summary>
public sealed class UpsamplingBlock : Module<Tensor, Tensor, Tensor, Tensor?, Tensor?, long, (Tensor Output, Tensor State)>
{
    private readonly DecoderConv conv;
    private readonly ConvGru gru;

    public UpsamplingBlock(long inChannels, long skipChannels, long outChannels, long maskScale, DecoderPlan plan)
        : base(nameof(UpsamplingBlock))
    {
        InChannels = inChannels;
        SkipChannels = skipChannels;
        OutChannels = outChannels;
        conv = new DecoderConv(inChannels + skipChannels + DecoderPlan.SourceChannels, outChannels, maskScale, plan.UseShb, plan.Precision, plan.Activation);
        gru = new ConvGru(outChannels / 2, plan.Precision);
        RegisterComponents();
    }

    /// <summary>Channels of x, the upsampled input: the first part of the conv's input [x, f_k, s_k].</summary>
    public long InChannels { get; }

    /// <summary>Channels of f_k, the encoder's skip feature: the second part.</summary>
    public long SkipChannels { get; }

    public long OutChannels { get; }

    public DecoderConv Conv => conv;

    public override (Tensor Output, Tensor State) forward(Tensor x, Tensor skip, Tensor source, Tensor? state, Tensor? mask, long frames)
    {
        x = Resample.Up2To(x, source.shape[2], source.shape[3]);
        x = conv.call(cat(new[] { x, skip, source }, 1), mask);
        var halves = x.chunk(2, 1);
        var (b, r) = gru.call(halves[1], state, frames);
        return (cat(new[] { halves[0], b }, 1), r);
    }
}
