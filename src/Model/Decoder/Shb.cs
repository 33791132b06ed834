using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// Sparse Heterogeneous Binarization, paper eq. (17):
///   o = SH-bconv₃(x; up^k(m_inc)) + bconv₁(x),
/// each conv with its BN, then the activation. SH-bconv₃ is computed only on masked positions at
/// inference (the <c>SparseBinaryConv2d</c> operator); in training it is computed densely and multiplied
/// by the mask, which gives the same values: 0 where the mask is 0 (after the BN, which the exporter
/// folds into the op), the dense result elsewhere. The 1×1 runs on every position.
/// </summary>
public sealed class Shb : Module<Tensor, Tensor, Tensor>
{
    private readonly ConvBnAct sparse_conv3;
    private readonly ConvBnAct conv1;
    private readonly Module<Tensor, Tensor> act;

    /// <param name="maskScale">k of eq. (17): the ratio between this block's resolution and the mask's (1/16).</param>
    public Shb(long inChannels, long outChannels, long maskScale, ConvPrecision precision, ActivationKind activation) : base(nameof(Shb))
    {
        MaskScale = maskScale;
        sparse_conv3 = new ConvBnAct(new ConvSpec(inChannels, outChannels, 3), precision, ActivationKind.None);
        conv1 = new ConvBnAct(new ConvSpec(inChannels, outChannels, 1), precision, ActivationKind.None);
        act = LayerFactory.Activation(activation, outChannels);
        RegisterComponents();
    }

    public long MaskScale { get; }

    /// <summary>The masked 3×3 (conv + BN): what the exporter turns into <c>SparseBinaryConv2d</c>.</summary>
    public ConvBnAct SparseConv => sparse_conv3;

    public ConvBnAct DenseConv => conv1;

    /// <summary>SH-bconv₃ alone: BN(bconv₃(x)) on active positions, 0 elsewhere.</summary>
    public Tensor SparseBranch(Tensor x, Tensor coarseMask)
    {
        var mask = IncoherentMask.Upsample(coarseMask, MaskScale, x.shape[2], x.shape[3]);
        return sparse_conv3.ForwardNoActivation(x) * mask;
    }

    public override Tensor forward(Tensor x, Tensor coarseMask) =>
        act.call(SparseBranch(x, coarseMask) + conv1.ForwardNoActivation(x));
}
