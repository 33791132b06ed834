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

    public static IEnumerable<string> Inputs => new[] { Source }.Concat(StateInputs).Append(DownsampleRatio);

    public static IEnumerable<string> Outputs => new[] { Foreground, Alpha }.Concat(StateOutputs);
}
