using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Binarization;

/// <summary>
/// ReActNet's RPReLU (rvm-architecture.md §6): LearnableBias → PReLU(C) (slope init 0.25) → LearnableBias.
/// The learnable shifts move the distribution that the next sign(a − τ) sees.
/// </summary>
public sealed class RPReLU : Module<Tensor, Tensor>
{
    private readonly LearnableBias shift_in;
    private readonly PReLU prelu;
    private readonly LearnableBias shift_out;
    private double binarization = 1;

    /// <param name="relaxedFrom">The 32-bit network's activation in this place (ReLU or Hardswish), which
    /// <see cref="Binarization"/> below 1 blends in.</param>
    public RPReLU(long channels, ActivationKind relaxedFrom = ActivationKind.Relu) : base(nameof(RPReLU))
    {
        if (relaxedFrom is not (ActivationKind.Relu or ActivationKind.Hardswish))
            throw new ArgumentException($"RPReLU replaces ReLU or Hardswish, not {relaxedFrom}", nameof(relaxedFrom));
        RelaxedFrom = relaxedFrom;
        shift_in = new LearnableBias(channels);
        prelu = PReLU(channels, init: 0.25);
        shift_out = new LearnableBias(channels);
        RegisterComponents();
    }

    /// <summary>The 32-bit activation this one takes the place of in the 1-bit network.</summary>
    public ActivationKind RelaxedFrom { get; }

    /// <summary>
    /// 1 (the default, the only value that exports): RPReLU. Below 1: β·RPReLU(x) + (1 − β)·<see cref="RelaxedFrom"/>(x),
    /// the activation's half of progressive binarization (<see cref="ProgressiveBinarization"/>).
    /// </summary>
    public double Binarization
    {
        get => binarization;
        set => binarization = ProgressiveBinarization.Checked(value);
    }

    /// <summary>The PReLU's slope [C]; a network started from a ReLU network sets it to 0 (<see cref="ProgressiveBinarization.StartFromRelu"/>).</summary>
    public Parameter Slope => prelu.weight;

    public override Tensor forward(Tensor x)
    {
        var y = shift_out.call(prelu.call(shift_in.call(x)));
        if (binarization == 1) return y;
        var relaxed = RelaxedFrom == ActivationKind.Hardswish ? functional.hardswish(x) : functional.relu(x);
        return binarization == 0 ? relaxed : y * binarization + relaxed * (1 - binarization);
    }
}
