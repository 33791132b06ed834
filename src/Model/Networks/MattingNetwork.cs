using BiVM.Model.Decoder;
using BiVM.Model.Encoder;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Networks;

/// <summary>
/// RVM's top level (rvm-architecture.md §1), shared by the three families: encoder → LR-ASPP → recurrent
/// decoder → projection, and the Deep Guided Filter when downsample_ratio ≠ 1.
/// Input: src [B,3,H,W] (one frame) or [B,T,3,H,W], RGB in 0..1; state r1..r4 (null on the first frame).
/// Children are protected so that the family subclasses can expose their specific parts; their names
/// are the checkpoint keys.
/// </summary>
public abstract class MattingNetwork : Module<Tensor, RecurrentState?, double, MattingOutput>
{
    protected readonly Module<Tensor, EncoderFeatures> backbone;
    protected readonly LrAspp aspp;
    protected readonly RecurrentDecoder decoder;
    protected readonly Module<Tensor, Tensor> project_mat;
    /// <summary>
    /// RVM's segmentation head. Never run (no segmentation data exists on these machines), but kept: its weights are
    /// checkpoint keys that every saved model.bin holds, and the parameter counts compared with the paper include it.
    /// </summary>
    protected readonly Module<Tensor, Tensor> project_seg;
    protected readonly DeepGuidedFilter refiner;

    protected MattingNetwork(string name, ModelConfig config, Module<Tensor, EncoderFeatures> backbone, LrAspp aspp, RecurrentDecoder decoder, DeepGuidedFilter refiner)
        : base(name)
    {
        Numerics.LibTorchNumerics.EnsureVerified();
        Config = config;
        this.backbone = backbone;
        this.aspp = aspp;
        this.decoder = decoder;
        var hidden = decoder.Plan.BlockChannels[3];
        // The last layers stay 32-bit (section 3.1.1): RGB residual + alpha, and segmentation logits.
        project_mat = Conv2d(hidden, 4, 1);
        project_seg = Conv2d(hidden, 1, 1);
        this.refiner = refiner;
        // Registered explicitly, in the order of the architecture figure, rather than by
        // RegisterComponents (whose reflection order is unspecified): the cost table lists parts this way.
        register_module(nameof(backbone), backbone);
        register_module(nameof(this.aspp), aspp);
        register_module(nameof(this.decoder), decoder);
        register_module(nameof(project_mat), project_mat);
        register_module(nameof(project_seg), project_seg);
        register_module(nameof(this.refiner), refiner);
    }

    public ModelConfig Config { get; }

    public Module<Tensor, EncoderFeatures> Backbone => backbone;

    public RecurrentDecoder Decoder => decoder;

    /// <summary>Channels of r1..r4.</summary>
    public long[] StateChannels => decoder.StateChannels;

    public override MattingOutput forward(Tensor source, RecurrentState? state, double downsampleRatio)
    {
        using var scope = NewDisposeScope();
        var (frames, flat) = Fold(source);
        var small = Downsample(flat, downsampleRatio);
        var (features, decoded) = Trunk(small, state, frames);
        var projected = project_mat.call(decoded.Hidden).split(new long[] { 3, 1 }, 1);
        var (fgrResidual, pha) = (projected[0], projected[1]);
        if (downsampleRatio != 1) (fgrResidual, pha) = refiner.call(flat, small, fgrResidual, pha, decoded.Hidden);
        var fgr = Clamp01(fgrResidual + flat);
        pha = Clamp01(pha);
        var output = new MattingOutput(Unfold(fgr, source), Unfold(pha, source), decoded.State, features, decoded.Mask);
        KeepOutputs(output);
        return output;
    }

    /// <summary>
    /// RVM's clamp to [0, 1]. In training its gradient passes straight through (the forward value is the same):
    /// with the hard clamp, a network whose alpha falls below 0 everywhere gets no gradient from any alpha loss
    /// and stays "all background", which is what our 1-bit runs did (alpha L1 equal to the mean alpha for
    /// 300+ steps, gradient norm ~0.1 from the foreground loss alone).
    /// </summary>
    private Tensor Clamp01(Tensor x) => training ? x + (x.clamp(0, 1) - x).detach() : x.clamp(0, 1);

    private (EncoderFeatures Features, DecoderOutput Decoded) Trunk(Tensor small, RecurrentState? state, long frames)
    {
        var features = backbone.call(small);
        var decoded = decoder.call(small, features with { F4 = aspp.call(features.F4) }, state, frames);
        return (features, decoded);
    }

    private static (long Frames, Tensor Flat) Fold(Tensor source) => source.ndim switch
    {
        4 => (1, source),
        5 => (source.shape[1], source.flatten(0, 1)),
        _ => throw new ArgumentException($"src must be [B,3,H,W] or [B,T,3,H,W], got [{string.Join(",", source.shape)}]", nameof(source)),
    };

    private static Tensor Unfold(Tensor x, Tensor source) =>
        source.ndim == 5 ? x.unflatten(0, new[] { source.shape[0], source.shape[1] }) : x;

    /// <summary>Bilinear resize by the factor, size floor(H·r) (align_corners = false, recompute_scale_factor = false).</summary>
    private static Tensor Downsample(Tensor x, double ratio)
    {
        if (ratio <= 0 || ratio > 1) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "downsample_ratio must be in (0, 1]");
        return ratio == 1 ? x : functional.interpolate(x, scale_factor: new[] { ratio, ratio }, mode: InterpolationMode.Bilinear, align_corners: false);
    }

    private static void KeepOutputs(MattingOutput output)
    {
        output.Fgr.MoveToOuterDisposeScope();
        output.Pha.MoveToOuterDisposeScope();
        MoveStateToOuter(output.State);
        foreach (var f in new[] { output.Features.F1, output.Features.F2, output.Features.F3, output.Features.F4 }) f.MoveToOuterDisposeScope();
        output.Mask?.MoveToOuterDisposeScope();
    }

    private static void MoveStateToOuter(RecurrentState state)
    {
        foreach (var r in new[] { state.R1, state.R2, state.R3, state.R4 }) r.MoveToOuterDisposeScope();
    }
}
