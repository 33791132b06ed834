using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>
/// MobileNetV3 block, paper eq. (6): o = conv₁(conv_k^G(conv₁(x))) + [c_x = c_o]·x (residual iff stride 1).
/// In the ReActNet baseline the 1×1 expand/project (and SE) convs are 1-bit and the activations after
/// them become RPReLU; the depthwise conv stays full precision (model-contract.md "Depthwise convolutions").
/// </summary>
public sealed class InvertedResidual : Module<Tensor, Tensor>
{
    // MobileNetV3's backbone BatchNorm (rvm-architecture.md §2).
    internal const double BnEps = 1e-3;
    internal const double BnMomentum = 0.01;

    private readonly Module<Tensor, Tensor> expand;
    private readonly ConvBnAct depthwise;
    private readonly Module<Tensor, Tensor> se;
    private readonly ConvBnAct project;

    public InvertedResidual(InvertedResidualPlan plan, ConvPrecision precision) : base(nameof(InvertedResidual))
    {
        Plan = plan;
        var pointwiseAct = precision == ConvPrecision.Binary ? ActivationKind.RPReLU : plan.Activation;
        expand = plan.Expanded != plan.In
            ? new ConvBnAct(new ConvSpec(plan.In, plan.Expanded, 1), precision, pointwiseAct, bnEps: BnEps, bnMomentum: BnMomentum,
                relaxedFrom: plan.Activation)
            : Identity();
        var dwStride = plan.Dilation > 1 ? 1 : plan.Stride;
        depthwise = new ConvBnAct(new ConvSpec(plan.Expanded, plan.Expanded, plan.Kernel, dwStride, plan.Dilation, Groups: plan.Expanded),
            ConvPrecision.Full, plan.Activation, bnEps: BnEps, bnMomentum: BnMomentum);
        se = plan.SqueezeExcite ? new SqueezeExcitation(plan.Expanded, plan.Squeezed, precision) : Identity();
        project = new ConvBnAct(new ConvSpec(plan.Expanded, plan.Out, 1), precision, ActivationKind.None, bnEps: BnEps, bnMomentum: BnMomentum);
        RegisterComponents();
    }

    public InvertedResidualPlan Plan { get; }

    public override Tensor forward(Tensor x)
    {
        var y = project.call(se.call(depthwise.call(expand.call(x))));
        return Plan.Residual ? y + x : y;
    }
}
