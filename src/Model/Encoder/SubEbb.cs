using BiVM.Model.Binarization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>
/// Sub-EBB θ, paper eq. (9):
///   x' = bconv₃(x) + γ₂ᴸ f(x),   o = bconv₁(x') + γ₁ᴸ f(x').
/// The 3×3 keeps c_x channels (and carries the stride/dilation); the 1×1 maps c_x → c_o, so f(x') is the
/// channel map of eq. (10). This split is the one whose parameter count matches the paper's
/// (EBB-FP 15.9 MB, table 1; see docs/model.md). Each conv has its BN, and, as in ReActNet, an RPReLU
/// follows each shortcut sum (eq. 9 omits BN/activation like eq. 6 does).
/// γᴸ are 0-dimensional learnable scalars initialised to 1 (section 3.3.2).
/// </summary>
public sealed class SubEbb : Module<Tensor, Tensor>
{
    private readonly ConvBnAct conv3;
    private readonly Module<Tensor, Tensor> act3;
    private readonly ConvBnAct conv1;
    private readonly Module<Tensor, Tensor> act1;
    private readonly Parameter gamma_l2;
    private readonly Parameter gamma_l1;

    public SubEbb(SubEbbPlan plan, ConvPrecision precision) : base(nameof(SubEbb))
    {
        ChannelMap.Validate(plan.In, plan.Out);
        Plan = plan;
        conv3 = new ConvBnAct(new ConvSpec(plan.In, plan.In, 3, plan.Stride, plan.Dilation), precision, ActivationKind.None);
        act3 = LayerFactory.Activation(ActivationKind.RPReLU, plan.In);
        conv1 = new ConvBnAct(new ConvSpec(plan.In, plan.Out, 1), precision, ActivationKind.None);
        act1 = LayerFactory.Activation(ActivationKind.RPReLU, plan.Out);
        gamma_l2 = Parameter(tensor(1f));
        gamma_l1 = Parameter(tensor(1f));
        RegisterComponents();
    }

    public SubEbbPlan Plan { get; }

    /// <summary>γ₁ᴸ, γ₂ᴸ (layer-wise shortcut scales).</summary>
    public IReadOnlyList<Parameter> LayerGammas => new[] { gamma_l1, gamma_l2 };

    public override Tensor forward(Tensor x)
    {
        var mid = act3.call(conv3.call(x) + gamma_l2 * ChannelMap.Map(x, Plan.In, Plan.Stride));
        return act1.call(conv1.call(mid) + gamma_l1 * ChannelMap.Map(mid, Plan.Out));
    }
}
