using BiVM.Model.Binarization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>
/// BiVM's encoder (paper table 5): a 32-bit 3×3 stride-2 stem (first layer stays full precision,
/// section 3.1.1) followed by six EBBs. With <see cref="ConvPrecision.Full"/> it is the 32-bit
/// counterpart used as the LBM teacher and in the table-1 ablation.
/// </summary>
public sealed class EbbEncoder : Module<Tensor, EncoderFeatures>
{
    private readonly ConvBnAct stem;
    private readonly ModuleList<Ebb> blocks;

    public EbbEncoder(EbbEncoderPlan plan, ConvPrecision precision) : base(nameof(EbbEncoder))
    {
        Plan = plan;
        stem = new ConvBnAct(new ConvSpec(3, plan.StemOut, 3, Stride: 2), ConvPrecision.Full, ActivationKind.Hardswish);
        blocks = new ModuleList<Ebb>(plan.Blocks.Select(b => new Ebb(b, precision)).ToArray());
        RegisterComponents();
    }

    public EbbEncoderPlan Plan { get; }

    public IEnumerable<Ebb> Blocks => blocks;

    /// <summary>L_EBB of eq. (13), summed over all blocks.</summary>
    public Tensor Regularizer() => blocks.Select(b => b.Regularizer()).Aggregate((a, b) => a + b);

    public override EncoderFeatures forward(Tensor src)
    {
        var f1 = stem.call(ImageNetNormalization.Apply(src));
        var (_, taps) = FeatureTaps.Run(blocks, Plan.Taps, f1);
        return new EncoderFeatures(f1, taps[0], taps[1], taps[2]);
    }
}
