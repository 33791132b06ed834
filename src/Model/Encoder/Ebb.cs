using BiVM.Model.Binarization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>
/// Evolvable Binarized Block ψ, paper eqs. (11)–(12):
///   x' = θ−(x) if c_x = c_o else θ↑(x)          (head)
///   φ(x) = θ↓(θ↑(x') + γ₂ᶜ f(x)) + γ₁ᶜ f(x')     (middle, tail, cross-layer shortcuts)
///   ψ(x) = φ(x) + γᴮ f(x)                        (block-wise shortcut)
/// γᶜ, γᴮ are 0-dimensional, initialised to r·10⁻³ with r ~ U(0, 1) (section 3.3.2) and pulled
/// towards 0 by L_EBB (eq. 13, <see cref="Regularizer"/>). Without a tail (the last block) θ↓ is the identity.
/// </summary>
public sealed class Ebb : Module<Tensor, Tensor>
{
    private readonly SubEbb head;
    private readonly SubEbb middle;
    private readonly Module<Tensor, Tensor> tail;
    private readonly Parameter gamma_c1;
    private readonly Parameter gamma_c2;
    private readonly Parameter gamma_b;

    public Ebb(EbbPlan plan, ConvPrecision precision) : base(nameof(Ebb))
    {
        if (plan.Head.Out != plan.Middle.In || (plan.Tail is { } t && t.In != plan.Middle.Out))
            throw new ArgumentException($"EBB sub-blocks do not chain: {plan}", nameof(plan));
        Plan = plan;
        head = new SubEbb(plan.Head, precision);
        middle = new SubEbb(plan.Middle, precision);
        tail = plan.Tail is null ? Identity() : new SubEbb(plan.Tail, precision);
        gamma_c1 = Parameter(rand(Array.Empty<long>()) * 1e-3f);
        gamma_c2 = Parameter(rand(Array.Empty<long>()) * 1e-3f);
        gamma_b = Parameter(rand(Array.Empty<long>()) * 1e-3f);
        RegisterComponents();
    }

    public EbbPlan Plan { get; }

    public IReadOnlyList<Parameter> CrossLayerGammas => new[] { gamma_c1, gamma_c2 };

    public Parameter BlockGamma => gamma_b;

    public IEnumerable<Parameter> LayerGammas => head.LayerGammas.Concat(middle.LayerGammas).Concat((tail as SubEbb)?.LayerGammas ?? Array.Empty<Parameter>());

    /// <summary>
    /// This block's share of L_EBB = Σᵢ γᵢᶜ + γᵢᴮ (eq. 13). We penalise |γ| rather than γ: the intent is to
    /// shrink the cross-layer and block shortcuts towards 0, and a signed sum has no lower bound.
    /// </summary>
    public Tensor Regularizer() => gamma_c1.abs() + gamma_c2.abs() + gamma_b.abs();

    public override Tensor forward(Tensor x)
    {
        var stride = Plan.Stride;
        var headOut = head.call(x);
        var inner = middle.call(headOut) + gamma_c2 * ChannelMap.Map(x, Plan.Middle.Out, stride);
        var phi = tail.call(inner) + gamma_c1 * ChannelMap.Map(headOut, Plan.Out);
        return phi + gamma_b * ChannelMap.Map(x, Plan.Out, stride);
    }
}
