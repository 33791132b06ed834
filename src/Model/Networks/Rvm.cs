using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Encoder;

namespace BiVM.Model.Networks;

/// <summary>Full-precision RVM: MobileNetV3-Large, LR-ASPP(960→128), ConvGRU decoder [80,40,32,16], DGF.</summary>
public sealed class Rvm : MattingNetwork
{
    public Rvm(ModelConfig config) : this(config, MobileNetV3Plan.Large) { }

    private Rvm(ModelConfig config, MobileNetV3Plan plan)
        : base(nameof(Rvm), config,
            new MobileNetV3Encoder(plan, ConvPrecision.Full),
            new LrAspp(plan.LastOut, 128, ConvPrecision.Full, ActivationKind.Relu),
            new RecurrentDecoder(new DecoderPlan(new long[] { plan.FeatureChannels[0], plan.FeatureChannels[1], plan.FeatureChannels[2], 128 },
                DecoderPlan.RvmBlockChannels, ConvPrecision.Full, ActivationKind.Relu, UseShb: false,
                ConvPrecision.Full, ActivationKind.Relu, config.ShbMaskDensities)),
            new DeepGuidedFilter(DecoderPlan.RvmBlockChannels[3], ConvPrecision.Full, ActivationKind.Relu))
    {
    }
}
