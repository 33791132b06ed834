using BiVM.Model.Decoder;
using BiVM.Model.Networks;
using static TorchSharp.torch;

namespace BiVM.Export.Tests;

/// <summary>The reference: MattingNetwork.forward in eval mode, one frame at a time, state carried.</summary>
internal sealed class TorchMatting(MattingNetwork network) : IDisposable
{
    private RecurrentState? _state;

    public FrameResult Step(float[] src, int[] srcShape, double ratio)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(src, srcShape.Select(d => (long)d).ToArray());
        var output = network.call(input, _state, ratio);
        var previous = _state;
        _state = new RecurrentState(output.State.R1.clone(), output.State.R2.clone(), output.State.R3.clone(), output.State.R4.clone());
        foreach (var r in new[] { _state.R1, _state.R2, _state.R3, _state.R4 }) r.MoveToOuterDisposeScope();
        if (previous is not null) foreach (var r in new[] { previous.R1, previous.R2, previous.R3, previous.R4 }) r.Dispose();
        var values = new Dictionary<string, float[]> { ["fgr"] = Floats(output.Fgr), ["pha"] = Floats(output.Pha) };
        var shapes = new Dictionary<string, int[]> { ["fgr"] = Shape(output.Fgr), ["pha"] = Shape(output.Pha) };
        var states = new[] { output.State.R1, output.State.R2, output.State.R3, output.State.R4 };
        for (int k = 0; k < 4; k++)
        {
            values[$"r{k + 1}o"] = Floats(states[k]);
            shapes[$"r{k + 1}o"] = Shape(states[k]);
        }
        return new FrameResult(values, shapes);
    }

    private static float[] Floats(Tensor t) => t.contiguous().data<float>().ToArray();

    private static int[] Shape(Tensor t) => t.shape.Select(d => (int)d).ToArray();

    public void Dispose()
    {
        if (_state is not null) foreach (var r in new[] { _state.R1, _state.R2, _state.R3, _state.R4 }) r.Dispose();
    }
}
