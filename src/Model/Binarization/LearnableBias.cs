using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Binarization;

/// <summary>ReActNet's LearnableBias: x + b with b [1, C, 1, 1] initialised to 0 (the "shift" of RSign/RPReLU).</summary>
public sealed class LearnableBias : Module<Tensor, Tensor>
{
    private readonly Parameter bias;

    public LearnableBias(long channels) : base(nameof(LearnableBias))
    {
        bias = Parameter(zeros(1, channels, 1, 1));
        RegisterComponents();
    }

    public Parameter Shift => bias;

    public override Tensor forward(Tensor x) => x + bias;
}
