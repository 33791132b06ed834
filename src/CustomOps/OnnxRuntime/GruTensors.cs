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
    /// How a [<paramref name="height"/>, <paramref name="width"/>] plane is walked against the state: in one run
    /// (full state, or one value for the whole plane), else one run per row; run k starts at k·Length in the plane and
    /// its state at <see cref="StateBroadcast.RowOffset"/>(n, c, k). No delegate per run: the kernels loop themselves.
    /// </summary>
    public static (int Runs, int Length) Runs(StateBroadcast strides, int height, int width) =>
        strides.PlaneIsOneRun(height, width) ? (1, height * width) : (height, width);
}
