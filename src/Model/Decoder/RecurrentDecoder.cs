using BiVM.Model.Encoder;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// RVM's recurrent decoder (rvm-architecture.md §3), with BiVM's SHB (paper table 6): the bottleneck at
/// 1/16 runs dense and produces m_inc^τ*; every later block (1/8, 1/4, 1/2, 1/1) gets that mask with
/// k = 2, 4, 8, 16. Works on time-folded tensors; only the ConvGRUs see T.
/// </summary>
public sealed class RecurrentDecoder : Module<Tensor, EncoderFeatures, RecurrentState?, long, DecoderOutput>
{
    private readonly BottleneckBlock decode4;
    private readonly UpsamplingBlock decode3;
    private readonly UpsamplingBlock decode2;
    private readonly UpsamplingBlock decode1;
    private readonly OutputBlock decode0;
    private readonly IncoherentMask? maskMaker;

    public RecurrentDecoder(DecoderPlan plan) : base(nameof(RecurrentDecoder))
    {
        Plan = plan;
        var f = plan.FeatureChannels;
        var c = plan.BlockChannels;
        decode4 = new BottleneckBlock(f[3], plan.Precision);
        decode3 = new UpsamplingBlock(f[3], f[2], c[0], maskScale: 2, plan);
        decode2 = new UpsamplingBlock(c[0], f[1], c[1], maskScale: 4, plan);
        decode1 = new UpsamplingBlock(c[1], f[0], c[2], maskScale: 8, plan);
        decode0 = new OutputBlock(c[2], c[3], maskScale: 16, plan);
        maskMaker = plan.UseShb ? new IncoherentMask(plan.ShbMaskDensities) : null;
        RegisterComponents();
    }

    public DecoderPlan Plan { get; }

    /// <summary>Channels of r1..r4.</summary>
    public long[] StateChannels => new[] { Plan.BlockChannels[2] / 2, Plan.BlockChannels[1] / 2, Plan.BlockChannels[0] / 2, Plan.FeatureChannels[3] / 2 };

    public override DecoderOutput forward(Tensor source, EncoderFeatures features, RecurrentState? state, long frames)
    {
        var s1 = Resample.Down2(source);
        var s2 = Resample.Down2(s1);
        var s3 = Resample.Down2(s2);
        var (x4, r4) = decode4.call(features.F4, state?.R4, frames);
        var mask = maskMaker?.Compute(x4);
        var (x3, r3) = decode3.call(x4, features.F3, s3, state?.R3, mask, frames);
        var (x2, r2) = decode2.call(x3, features.F2, s2, state?.R2, mask, frames);
        var (x1, r1) = decode1.call(x2, features.F1, s1, state?.R1, mask, frames);
        var hidden = decode0.call(x1, source, mask);
        return new DecoderOutput(hidden, new RecurrentState(r1, r2, r3, r4), mask);
    }
}
