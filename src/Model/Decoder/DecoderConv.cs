using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// The 3×3 conv of an RVM decoder block: a plain conv + BN + activation, or, in BiVM, an <see cref="Shb"/>
/// driven by the incoherent mask. Exactly one of the two children exists.
/// </summary>
public sealed class DecoderConv : Module<Tensor, Tensor?, Tensor>
{
    private readonly ConvBnAct? conv;
    private readonly Shb? shb;

    public DecoderConv(long inChannels, long outChannels, long maskScale, bool useShb, ConvPrecision precision, ActivationKind activation)
        : base(nameof(DecoderConv))
    {
        if (useShb) shb = new Shb(inChannels, outChannels, maskScale, precision, activation);
        else conv = new ConvBnAct(new ConvSpec(inChannels, outChannels, 3), precision, activation);
        RegisterComponents();
    }

    public Shb? Shb => shb;

    public ConvBnAct? Dense => conv;

    public override Tensor forward(Tensor x, Tensor? mask)
    {
        if (shb is null) return conv!.call(x);
        if (mask is null) throw new ArgumentNullException(nameof(mask), "an SHB block needs the incoherent mask");
        return shb.call(x, mask);
    }
}
