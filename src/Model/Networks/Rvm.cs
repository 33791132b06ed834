using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Encoder;

namespace BiVM.Model.Networks;

/// <summary>Full-precision RVM: MobileNetV3-Large, LR-ASPP(960→128), ConvGRU decoder [80,40,32,16] (<see cref="ModelConfig.DecoderChannels"/>), DGF.</summary>
public sealed class Rvm : MattingNetwork
{
    internal const long AsppOut = 128;

    public Rvm(ModelConfig config)
        : base(nameof(Rvm), config,
            new MobileNetV3Encoder(MobileNetV3Plan.Large, ConvPrecision.Full),
            new LrAspp(MobileNetV3Plan.Large.LastOut, AsppOut, ConvPrecision.Full, ActivationKind.Relu),
            new RecurrentDecoder(DecoderPlan.ForRvm(MobileNetV3Plan.Large, AsppOut, config.DecoderChannels, ConvPrecision.Full, ActivationKind.Relu, ConvPrecision.Full, config.ShbMaskDensities)),
            new DeepGuidedFilter(config.DecoderChannels[3], ConvPrecision.Full, ActivationKind.Relu))
    {
    }
}
