using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Encoder;

namespace BiVM.Model.Networks;

/// <summary>
/// RVM binarized the ReActNet way, the paper's 1-bit baseline (section 3.1): every conv 1-bit with learned
/// thresholds (RSign) and RPReLU activations, except the first conv, MobileNetV3's depthwise convs
/// (model-contract.md), the output block's second 3×3 (BiMatting's precedent; it stays 32-bit with a ReLU),
/// the DGF box filter and last 1×1, and the projections.
/// </summary>
public sealed class RvmReact : MattingNetwork
{
    public RvmReact(ModelConfig config)
        : base(nameof(RvmReact), config,
            new MobileNetV3Encoder(MobileNetV3Plan.Large, ConvPrecision.Binary),
            new LrAspp(MobileNetV3Plan.Large.LastOut, Rvm.AsppOut, ConvPrecision.Binary, ActivationKind.RPReLU),
            new RecurrentDecoder(DecoderPlan.ForRvm(MobileNetV3Plan.Large, Rvm.AsppOut, config.DecoderChannels, ConvPrecision.Binary, ActivationKind.RPReLU, ConvPrecision.Full, config.ShbMaskDensities)),
            new DeepGuidedFilter(config.DecoderChannels[3], ConvPrecision.Binary, ActivationKind.RPReLU))
    {
    }
}
