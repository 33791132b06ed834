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

    public RPReLU(long channels) : base(nameof(RPReLU))
    {
        shift_in = new LearnableBias(channels);
        prelu = PReLU(channels, init: 0.25);
        shift_out = new LearnableBias(channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => shift_out.call(prelu.call(shift_in.call(x)));
}
