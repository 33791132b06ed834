using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>
/// RVM's LR-ASPP (rvm-architecture.md §2, no low-level branch):
/// out = act(BN(Conv1×1(x))) ⊙ sigmoid(Conv1×1(GAP(x))). Binarized families binarize both 1×1s.
/// </summary>
public sealed class LrAspp : Module<Tensor, Tensor>
{
    private readonly ConvBnAct aspp1;
    private readonly Module<Tensor, Tensor> aspp2;

    public LrAspp(long inChannels, long outChannels, ConvPrecision precision, ActivationKind activation) : base(nameof(LrAspp))
    {
        aspp1 = new ConvBnAct(new ConvSpec(inChannels, outChannels, 1), precision, activation);
        aspp2 = LayerFactory.Conv(new ConvSpec(inChannels, outChannels, 1), precision);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var gate = functional.sigmoid(aspp2.call(functional.adaptive_avg_pool2d(x, 1)));
        return aspp1.call(x) * gate;
    }
}
