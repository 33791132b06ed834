namespace BiVM.CustomOps.Recurrent;

/// <summary>
/// Where the value of a recurrent state h broadcast to [N, C, H, W] lies (ONNX's unidirectional broadcasting, as
/// Expand(h, Shape(x)) and Mul do for the ConvGRU): h's dims are right-aligned, each 1 (repeated: stride 0) or equal
/// to the target's. The first frame's state is a [1, 1, 1, 1] zero tensor; later frames' are full.
/// </summary>
/// <param name="Batch">Elements to step per image (0 where h's N is 1).</param>
/// <param name="Channel">Elements to step per channel.</param>
/// <param name="Row">Elements to step per row.</param>
/// <param name="RowRepeats">Whether one value stands for a whole row (h's W is 1, or h is [1, 1, 1, 1]).</param>
internal readonly record struct StateBroadcast(long Batch, long Channel, long Row, bool RowRepeats)
{
    /// <summary>
    /// The strides of a state shaped <paramref name="state"/> broadcast to [<paramref name="target"/>], or null with
    /// <paramref name="error"/> saying which dim cannot be broadcast.
    /// </summary>
    public static StateBroadcast? Of(long[] state, long[] target, out string error)
    {
        error = "";
        if (target.Length != 4) throw new ArgumentException($"target must have rank 4, got {target.Length}", nameof(target));
        if (state.Length > 4)
        {
            error = $"rank {state.Length} is more than 4";
            return null;
        }
        var dims = new long[4];
        for (int i = 0; i < 4; i++) dims[i] = i < 4 - state.Length ? 1 : state[i - (4 - state.Length)];
        for (int i = 0; i < 4; i++)
            if (dims[i] != 1 && dims[i] != target[i])
            {
                error = $"dim {i} is {dims[i]}, neither 1 nor {target[i]}";
                return null;
            }
        long w = dims[3] == 1 ? 0 : 1;
        long h = dims[2] == 1 ? 0 : dims[3];
        long c = dims[1] == 1 ? 0 : dims[2] * dims[3];
        long n = dims[0] == 1 ? 0 : dims[1] * dims[2] * dims[3];
        return new StateBroadcast(n, c, h, w == 0);
    }

    /// <summary>Offset of row <paramref name="y"/> of plane (<paramref name="n"/>, <paramref name="c"/>).</summary>
    public long RowOffset(int n, int c, int y) => n * Batch + c * Channel + y * Row;

    /// <summary>Whether a whole <paramref name="height"/>-row plane is one contiguous run (h has full H and W), or one value repeated.</summary>
    public bool PlaneIsOneRun(int height, int width) => height == 1 || (RowRepeats ? Row == 0 : Row == width);
}
