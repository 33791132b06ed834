using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Decoder;

public class ConvGruTests
{
    [Theory]
    [InlineData(ConvPrecision.Full)]
    [InlineData(ConvPrecision.Binary)]
    public void State_carries_across_frames(ConvPrecision precision)
    {
        using var scope = NewDisposeScope();
        manual_seed(41);
        var gru = new ConvGru(4, precision);
        using var _ = no_grad();
        var clip = randn(new long[] { 2, 3, 4, 5, 6 }); // [B, T, C, H, W]
        var (all, last) = gru.call(clip.flatten(0, 1), null, 3);

        Tensor? state = null;
        var outputs = new List<Tensor>();
        for (int t = 0; t < 3; t++)
        {
            (var o, state) = gru.call(clip[.., t], state, 1);
            outputs.Add(o);
        }
        Assert.True(all.view(2, 3, 4, 5, 6).allclose(stack(outputs, 1), atol: 1e-6));
        Assert.True(last.allclose(state!, atol: 1e-6));
        // The state matters: frame 2 alone, from zeros, differs from frame 2 after frame 1.
        var (fresh, _) = gru.call(clip[.., 1], null, 1);
        Assert.False(fresh.allclose(outputs[1], atol: 1e-4));
    }
}
