using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// RVM's ConvGRU (rvm-architecture.md §3), 3×3 convs with bias:
///   [r, z] = σ(conv_ih([x, h])),  c = tanh(conv_hh([x, r⊙h])),  h' = (1 − z)⊙h + z⊙c,  output h'.
/// Input is time-folded [B·T, C, H, W]; this is the only module that unfolds time and loops over T.
/// Binarized families binarize both gate convs (BiMatting's precedent, paper section 3.1.2).
/// </summary>
public sealed class ConvGru : Module<Tensor, Tensor?, long, (Tensor Output, Tensor State)>
{
    private readonly Module<Tensor, Tensor> ih;
    private readonly Module<Tensor, Tensor> hh;

    public ConvGru(long channels, ConvPrecision precision) : base(nameof(ConvGru))
    {
        Channels = channels;
        ih = LayerFactory.Conv(new ConvSpec(2 * channels, 2 * channels, 3, Bias: true), precision);
        hh = LayerFactory.Conv(new ConvSpec(2 * channels, channels, 3, Bias: true), precision);
        RegisterComponents();
    }

    public long Channels { get; }

    /// <param name="x">[B·T, C, H, W].</param>
    /// <param name="state">[B, C, H, W], or null / empty / broadcastable (e.g. [1,1,1,1] zeros) on the first frame.</param>
    /// <param name="frames">T.</param>
    public override (Tensor Output, Tensor State) forward(Tensor x, Tensor? state, long frames)
    {
        var batch = x.shape[0] / frames;
        var (h, w) = (x.shape[2], x.shape[3]);
        var hidden = state is null || state.numel() == 0
            ? zeros(new[] { batch, Channels, h, w }, dtype: x.dtype, device: x.device)
            : state.expand(batch, Channels, h, w);
        var sequence = x.view(batch, frames, Channels, h, w);
        var outputs = new Tensor[frames];
        for (var t = 0; t < frames; t++)
        {
            hidden = Step(sequence[.., t], hidden);
            outputs[t] = hidden;
        }
        return (stack(outputs, 1).view(batch * frames, Channels, h, w), hidden);
    }

    private Tensor Step(Tensor x, Tensor h)
    {
        var gates = functional.sigmoid(ih.call(cat(new[] { x, h }, 1))).chunk(2, 1);
        var (r, z) = (gates[0], gates[1]);
        var candidate = functional.tanh(hh.call(cat(new[] { x, r * h }, 1)));
        return (1 - z) * h + z * candidate;
    }
}
