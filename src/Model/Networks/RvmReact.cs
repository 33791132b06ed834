using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Encoder;

namespace BiVM.Model.Networks;

/// <summary>
/// RVM binarized the ReActNet way, the paper's 1-bit baseline (section 3.1): every conv 1-bit with learned
/// thresholds (RSign) and RPReLU activations, except the first conv, MobileNetV3's depthwise convs
/// (model-contract.md), the output block's second 3×3 (BiMatting's precedent), the DGF box filter and
/// last 1×1, and the projections.
/// </summary>
public sealed class RvmReact : MattingNetwork
{
    public RvmReact(ModelConfig config) : this(config, MobileNetV3Plan.Large) { }

    private RvmReact(ModelConfig config, MobileNetV3Plan plan)
        : base(nameof(RvmReact), config,
            new MobileNetV3Encoder(plan, ConvPrecision.Binary),
            new LrAspp(plan.LastOut, 128, ConvPrecision.Binary, ActivationKind.RPReLU),
            new RecurrentDecoder(new DecoderPlan(new long[] { plan.FeatureChannels[0], plan.FeatureChannels[1], plan.FeatureChannels[2], 128 },
                DecoderPlan.RvmBlockChannels, ConvPrecision.Binary, ActivationKind.RPReLU, UseShb: false,
                ConvPrecision.Full, ActivationKind.Relu, config.ShbMaskDensities)),
            new DeepGuidedFilter(DecoderPlan.RvmBlockChannels[3], ConvPrecision.Binary, ActivationKind.RPReLU))
    {
    }
}
