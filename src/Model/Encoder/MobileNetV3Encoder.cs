using BiVM.Model.Binarization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>
/// RVM's MobileNetV3-Large backbone (rvm-architecture.md §2): stem 3×3 s2 3→16 (always 32-bit: the first
/// layer), 15 inverted residuals, final 1×1 160→960. <see cref="ConvPrecision.Binary"/> gives the
/// ReActNet baseline of eq. (6).
/// </summary>
public sealed class MobileNetV3Encoder : Module<Tensor, EncoderFeatures>
{
    private readonly ConvBnAct stem;
    private readonly ModuleList<InvertedResidual> blocks;
    private readonly ConvBnAct last;

    public MobileNetV3Encoder(MobileNetV3Plan plan, ConvPrecision precision) : base(nameof(MobileNetV3Encoder))
    {
        Plan = plan;
        stem = new ConvBnAct(new ConvSpec(3, plan.StemOut, 3, Stride: 2), ConvPrecision.Full, ActivationKind.Hardswish,
            bnEps: InvertedResidual.BnEps, bnMomentum: InvertedResidual.BnMomentum);
        blocks = new ModuleList<InvertedResidual>(plan.Blocks.Select(b => new InvertedResidual(b, precision)).ToArray());
        var lastIn = plan.Blocks[^1].Out;
        last = new ConvBnAct(new ConvSpec(lastIn, plan.LastOut, 1), precision,
            precision == ConvPrecision.Binary ? ActivationKind.RPReLU : ActivationKind.Hardswish,
            bnEps: InvertedResidual.BnEps, bnMomentum: InvertedResidual.BnMomentum, relaxedFrom: ActivationKind.Hardswish);
        RegisterComponents();
    }

    public MobileNetV3Plan Plan { get; }

    public override EncoderFeatures forward(Tensor src)
    {
        var (x, taps) = FeatureTaps.Run(blocks, Plan.Taps, stem.call(ImageNetNormalization.Apply(src)));
        return new EncoderFeatures(taps[0], taps[1], taps[2], last.call(x));
    }
}
