using BiVM.CustomOps.Recurrent;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>What the three ConvGRU kernels share: reading their float inputs and walking a broadcast state plane by plane.</summary>
internal static unsafe class GruTensors
{
    /// <summary>A float32 rank-4 input that fits int sizes, or one line saying what it is instead.</summary>
    public static OrtTensorView Rank4(nint context, int index, string name)
    {
        var t = OrtTensorView.Read(OrtApi.KernelContextInput(context, index));
        if (t.Type != OrtElementType.Float || t.Dims.Length != 4)
            throw new OpValidationException($"{name} must be float32 [N, C, H, W], got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
        if (t.Dims.Any(d => d > int.MaxValue) || t.Dims[2] * t.Dims[3] > int.MaxValue)
            throw new OpValidationException($"{name} {t.Shape} is too large");
        return t;
    }

    /// <summary>The state input, which must broadcast to <paramref name="target"/> (ONNX's Expand): its view and strides.</summary>
    public static (OrtTensorView View, StateBroadcast Strides) State(nint context, int index, long[] target, string like)
    {
        var t = OrtTensorView.Read(OrtApi.KernelContextInput(context, index));
        if (t.Type != OrtElementType.Float) throw new OpValidationException($"State must be float32, got {OrtTensorView.TypeText(t.Type)}");
        if (StateBroadcast.Of(t.Dims, target, out string error) is not { } strides)
            throw new OpValidationException($"State {t.Shape} must broadcast to {like}'s shape {OrtTensorView.ShapeText(target)}: {error}");
        return (t, strides);
    }

    /// <summary>
    /// Calls <paramref name="run"/> for plane (n, c) of a [<paramref name="height"/>, <paramref name="width"/>] output
    /// in as few runs as the state's layout allows: (offset into the plane, length, state pointer, state repeats).
    /// </summary>
    public static void Plane(float* state, StateBroadcast strides, int n, int c, int height, int width, PlaneRun run)
    {
        if (strides.PlaneIsOneRun(height, width))
        {
            run(0, height * width, state + strides.RowOffset(n, c, 0), strides.RowRepeats);
            return;
        }
        for (int y = 0; y < height; y++) run(y * width, width, state + strides.RowOffset(n, c, y), strides.RowRepeats);
    }

    /// <summary>One run of a plane: <paramref name="count"/> values from <paramref name="offset"/>, the state at <paramref name="state"/>.</summary>
    public delegate void PlaneRun(int offset, int count, float* state, bool stateRepeats);
}
