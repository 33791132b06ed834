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
    /// <param name="relaxedFrom">Where <paramref name="activation"/> is RPReLU: the 32-bit network's activation in its place.</param>
    public ConvBnAct(ConvSpec spec, ConvPrecision precision, ActivationKind activation, bool batchNorm = true,
        double bnEps = 1e-5, double bnMomentum = 0.1, ActivationKind relaxedFrom = ActivationKind.Relu)
        : base(nameof(ConvBnAct))
    {
        Spec = spec;
        conv = LayerFactory.Conv(spec, precision);
        bn = batchNorm ? BatchNorm2d(spec.Out, eps: bnEps, momentum: bnMomentum) : Identity();
        act = LayerFactory.Activation(activation, spec.Out, relaxedFrom);
        RegisterComponents();
    }

    public ConvSpec Spec { get; }

    public Module<Tensor, Tensor> Conv => conv;

    /// <summary>The BatchNorm after the conv, or null when the unit has none.</summary>
    public BatchNorm2d? Norm => bn as BatchNorm2d;

    public Module<Tensor, Tensor> Activation => act;

    /// <summary>How the BatchNorm normalizes (set by the network from its <see cref="Networks.ModelConfig"/>).</summary>
    public BatchNormMode NormMode { get; set; } = BatchNormMode.Batch;

    public override Tensor forward(Tensor x) => act.call(Normalize(conv.call(x)));

    /// <summary>
    /// Conv and BN without the activation: SHB adds two of these before its activation (eq. 17).
    /// </summary>
    public Tensor ForwardNoActivation(Tensor x) => Normalize(conv.call(x));

    private Tensor Normalize(Tensor x) => (NormMode, bn) switch
    {
        (BatchNormMode.Frame, BatchNorm2d norm) => FrameNormalization(norm, x),
        (BatchNormMode.Running, BatchNorm2d { training: true } norm) => RunningNormalization(norm, x),
        (BatchNormMode.Fixed, BatchNorm2d norm) => nn.functional.batch_norm(x, norm.running_mean!, norm.running_var!, norm.weight, norm.bias, training: false, eps: norm.eps),
        _ => bn.call(x),
    };

    /// <summary>Each frame (batch element) by its own per-channel mean and biased variance over H×W, then γ, β.</summary>
    private static Tensor FrameNormalization(BatchNorm2d norm, Tensor x)
    {
        if (x.shape[2] * x.shape[3] < 2)
            throw new InvalidOperationException($"frame normalization of a {x.shape[2]}x{x.shape[3]} feature map: a single position has no variance");
        return nn.functional.instance_norm(x, weight: norm.weight, bias: norm.bias, use_input_stats: true, eps: norm.eps);
    }

    /// <summary>
    /// Batch Renormalization (Ioffe 2017) with r and d unclipped: the running statistics follow the batches
    /// (BN's momentum; the first batch sets them), and the output is normalized by them, exactly as the
    /// exported network normalizes, so nothing can come to depend on one batch's own statistics.
    /// </summary>
    private static Tensor RunningNormalization(BatchNorm2d norm, Tensor x)
    {
        using (no_grad())
        {
            bool first = norm.num_batches_tracked!.item<long>() == 0;
            double m = first ? 1.0 : norm.momentum ?? 0.1;
            var mean = x.mean([0, 2, 3]);
            var variance = x.var([0, 2, 3], unbiased: true);
            norm.running_mean!.mul_(1 - m).add_(mean * m);
            norm.running_var!.mul_(1 - m).add_(variance * m);
            norm.num_batches_tracked!.add_(1);
        }
        long[] channel = [1, -1, 1, 1];
        var scale = norm.weight! / (norm.running_var! + norm.eps).sqrt();
        return x * scale.view(channel) + (norm.bias! - norm.running_mean! * scale).view(channel);
    }

    /// <summary>The binary conv with this unit's BatchNorm folded in (<see cref="FoldedBinaryConv.Fold"/>).</summary>
    public FoldedBinaryConv FoldForExport() =>
        conv is BinaryConv2d binary
            ? FoldedBinaryConv.Fold(binary, Norm)
            : throw new InvalidOperationException("only a binary conv folds into the BinaryConv2d operator");
}
