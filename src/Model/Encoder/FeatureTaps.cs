using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>Runs a chain of blocks and keeps the outputs of the tapped ones (the encoders' skip features).</summary>
public static class FeatureTaps
{
    /// <returns>The last block's output and the tapped outputs, in the order of <paramref name="taps"/>.</returns>
    public static (Tensor Last, Tensor[] Tapped) Run(IEnumerable<Module<Tensor, Tensor>> blocks, IReadOnlyList<int> taps, Tensor x)
    {
        var tapped = new Tensor[taps.Count];
        var index = 0;
        foreach (var block in blocks)
        {
            x = block.call(x);
            for (var t = 0; t < taps.Count; t++)
                if (taps[t] == index) tapped[t] = x;
            index++;
        }
        return (x, tapped);
    }
}
