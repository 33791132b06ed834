using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Encoder;
using static TorchSharp.torch;

namespace BiVM.Model.Networks;

/// <summary>
/// BiVM: EBB encoder (table 5) + LR-ASPP(1024→128) + RVM's recurrent decoder with SHB in every block after
/// the bottleneck (table 6) + DGF with binarized 1×1s. With <see cref="ModelConfig.FullPrecision"/> all
/// 1-bit convs become 32-bit (the LBM teacher / ablation row "EBB SHB 32").
/// </summary>
public sealed class Bivm : MattingNetwork
{
    public Bivm(ModelConfig config) : this(config, EbbEncoderPlan.Table5, config.FullPrecision ? ConvPrecision.Full : ConvPrecision.Binary) { }

    private Bivm(ModelConfig config, EbbEncoderPlan plan, ConvPrecision precision)
        : base(nameof(Bivm), config,
            new EbbEncoder(plan, precision),
            new LrAspp(plan.Blocks[^1].Out, plan.AsppOut, precision, ActivationKind.RPReLU),
            new RecurrentDecoder(new DecoderPlan(plan.FeatureChannels, config.DecoderChannels, precision, ActivationKind.RPReLU,
                UseShb: true, precision, ActivationKind.RPReLU, config.ShbMaskDensities)),
            new DeepGuidedFilter(config.DecoderChannels[3], precision, ActivationKind.RPReLU))
    {
    }

    public EbbEncoder Encoder => (EbbEncoder)backbone;

    /// <summary>L_EBB (eq. 13), weighted by λ_EBB = 1e-4 in pre-training (eq. 18).</summary>
    public Tensor EbbRegularizer() => Encoder.Regularizer();
}
