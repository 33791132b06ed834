namespace BiVM.Contracts;

/// <summary>
/// Graph I/O of every matting model this library runs (docs/model-contract.md): the names and
/// meaning of RVM's public ONNX release, so BiVM, RVM and RVM-ReActNet files are interchangeable.
/// </summary>
public static class MattingContract
{
    public const string Source = "src";
    public const string DownsampleRatio = "downsample_ratio";
    public const string Foreground = "fgr";
    public const string Alpha = "pha";

    /// <summary>Recurrent state inputs r1i..r4i, fed with the previous frame's r1o..r4o.</summary>
    public static readonly IReadOnlyList<string> StateInputs = ["r1i", "r2i", "r3i", "r4i"];

    /// <summary>Recurrent state outputs r1o..r4o, in the order of <see cref="StateInputs"/>.</summary>
    public static readonly IReadOnlyList<string> StateOutputs = ["r1o", "r2o", "r3o", "r4o"];

    /// <summary>The network core never runs above 512 pixels on the long side (RVM's inference.py default).</summary>
    public static float DefaultDownsampleRatio(int width, int height) => Math.Min(512f / Math.Max(width, height), 1f);

    /// <summary>
    /// The stride of the encoder's coarsest feature map (1/16 of the network input, in RVM's MobileNetV3 and in BiVM's
    /// EBB encoder alike): a network input narrower than this has less than one cell there.
    /// </summary>
    public const int CoarsestStride = 16;

    /// <summary>
    /// The network input for a frame side at downsample ratio r: ONNX Resize's output size, the float product
    /// truncated (what ONNX Runtime computes for scales [1, 1, r, r]).
    /// </summary>
    public static int NetworkSide(int side, float ratio) => (int)(ratio * side);

    /// <summary>
    /// The smallest downsample ratio at which a width×height frame still gives the network at least one cell of its
    /// coarsest feature map (<see cref="CoarsestStride"/> pixels) on each side; a frame already smaller than that
    /// needs ratio 1 (it is not shrunk further). Rounded up to 4 significant digits, so the value printed works.
    /// </summary>
    public static float SmallestDownsampleRatio(int width, int height)
    {
        int side = Math.Min(width, height);
        if (side <= CoarsestStride) return 1f;
        double exact = (double)CoarsestStride / side;
        double scale = Math.Pow(10, 3 - Math.Floor(Math.Log10(exact)));
        float ratio = (float)Math.Min(1.0, Math.Ceiling(exact * scale) / scale);
        while (!IsLargeEnough(width, height, ratio)) ratio = MathF.BitIncrement(ratio);
        return ratio;
    }

    /// <summary>Whether ratio r gives a width×height frame a network input of at least one coarsest cell per side (or the whole frame).</summary>
    public static bool IsLargeEnough(int width, int height, float ratio) =>
        NetworkSide(width, ratio) >= Math.Min(CoarsestStride, width) && NetworkSide(height, ratio) >= Math.Min(CoarsestStride, height);

    public static IEnumerable<string> Inputs => new[] { Source }.Concat(StateInputs).Append(DownsampleRatio);

    public static IEnumerable<string> Outputs => new[] { Foreground, Alpha }.Concat(StateOutputs);
}
