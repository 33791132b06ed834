using BiVM.Model.Binarization;

namespace BiVM.Model.Encoder;

/// <summary>One inverted-residual row of MobileNetV3-Large (rvm-architecture.md §2 table).</summary>
public sealed record InvertedResidualPlan(long In, long Kernel, long Expanded, long Out, bool SqueezeExcite, ActivationKind Activation, long Stride, long Dilation)
{
    /// <summary>torchvision's _make_divisible(exp/4, 8): 72→24, 120→32, 480→120, 672→168, 960→240.</summary>
    public long Squeezed
    {
        get
        {
            var v = Expanded / 4.0;
            var d = Math.Max(8, (long)(v + 4) / 8 * 8);
            return d < 0.9 * v ? d + 8 : d;
        }
    }

    public bool Residual => Stride == 1 && In == Out;
}

/// <summary>MobileNetV3-Large as RVM uses it: last stage dilated (1/16 instead of 1/32), taps after features 1, 3, 6, 16.</summary>
public sealed record MobileNetV3Plan(long StemOut, IReadOnlyList<InvertedResidualPlan> Blocks, IReadOnlyList<int> Taps, long LastOut)
{
    private const ActivationKind RE = ActivationKind.Relu;
    private const ActivationKind HS = ActivationKind.Hardswish;

    public static MobileNetV3Plan Large { get; } = new(
        StemOut: 16,
        Blocks: new InvertedResidualPlan[]
        {
            new(16, 3, 16, 16, false, RE, 1, 1),
            new(16, 3, 64, 24, false, RE, 2, 1),
            new(24, 3, 72, 24, false, RE, 1, 1),
            new(24, 5, 72, 40, true, RE, 2, 1),
            new(40, 5, 120, 40, true, RE, 1, 1),
            new(40, 5, 120, 40, true, RE, 1, 1),
            new(40, 3, 240, 80, false, HS, 2, 1),
            new(80, 3, 200, 80, false, HS, 1, 1),
            new(80, 3, 184, 80, false, HS, 1, 1),
            new(80, 3, 184, 80, false, HS, 1, 1),
            new(80, 3, 480, 112, true, HS, 1, 1),
            new(112, 3, 672, 112, true, HS, 1, 1),
            new(112, 5, 672, 160, true, HS, 2, 2),
            new(160, 5, 960, 160, true, HS, 1, 2),
            new(160, 5, 960, 160, true, HS, 1, 2),
        },
        // Indices into Blocks (0-based = torchvision features[i+1]) whose outputs are f1, f2, f3.
        Taps: new[] { 0, 2, 5 },
        LastOut: 960);

    public long[] FeatureChannels => new[] { Blocks[Taps[0]].Out, Blocks[Taps[1]].Out, Blocks[Taps[2]].Out, LastOut };
}
