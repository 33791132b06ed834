using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Binarization;

/// <summary>
/// Conv (full precision or 1-bit) → BatchNorm → activation, the unit every block is built from.
/// The paper's equations (6), (9), (11), (17) leave BN and activations out; they sit here. Keeping the BN
/// next to its conv lets the exporter fold it (<see cref="FoldForExport"/>).
/// </summary>
public sealed class ConvBnAct : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv;
    private readonly Module<Tensor, Tensor> bn;
    private readonly Module<Tensor, Tensor> act;

    /// <param name="bnEps">1e-3 in MobileNetV3's backbone, PyTorch's default 1e-5 elsewhere (rvm-architecture.md §2–3).</param>
    /// <param name="bnMomentum">0.01 in MobileNetV3's backbone, 0.1 elsewhere.</param>
    public ConvBnAct(ConvSpec spec, ConvPrecision precision, ActivationKind activation, bool batchNorm = true,
        double bnEps = 1e-5, double bnMomentum = 0.1)
        : base(nameof(ConvBnAct))
    {
        Spec = spec;
        conv = LayerFactory.Conv(spec, precision);
        bn = batchNorm ? BatchNorm2d(spec.Out, eps: bnEps, momentum: bnMomentum) : Identity();
        act = LayerFactory.Activation(activation, spec.Out);
        RegisterComponents();
    }

    public ConvSpec Spec { get; }

    public Module<Tensor, Tensor> Conv => conv;

    /// <summary>The BatchNorm after the conv, or null when the unit has none.</summary>
    public BatchNorm2d? Norm => bn as BatchNorm2d;

    public Module<Tensor, Tensor> Activation => act;

    public override Tensor forward(Tensor x) => act.call(bn.call(conv.call(x)));

    /// <summary>
    /// Conv and BN without the activation: SHB adds two of these before its activation (eq. 17).
    /// </summary>
    public Tensor ForwardNoActivation(Tensor x) => bn.call(conv.call(x));

    /// <summary>The binary conv with this unit's BatchNorm folded in (<see cref="FoldedBinaryConv.Fold"/>).</summary>
    public FoldedBinaryConv FoldForExport() =>
        conv is BinaryConv2d binary
            ? FoldedBinaryConv.Fold(binary, Norm)
            : throw new InvalidOperationException("only a binary conv folds into the BinaryConv2d operator");
}
