namespace BiVM.Model.Encoder;

/// <summary>One sub-block θ of eq. (9): in → out channels; its 3×3 carries the stride and dilation.</summary>
public sealed record SubEbbPlan(long In, long Out, long Stride = 1, long Dilation = 1);

/// <summary>
/// One EBB ψ of eqs. (11)–(12): head (θ− or θ↑), middle (θ↑), tail (θ↓). <see cref="Tail"/> is null for
/// the last block, whose table-5 column lists only θ↑(128,256), θ↑(256,1024) before LR-ASPP (1024→128).
/// </summary>
public sealed record EbbPlan(SubEbbPlan Head, SubEbbPlan Middle, SubEbbPlan? Tail)
{
    public long In => Head.In;
    public long Out => Tail?.Out ?? Middle.Out;
    public long Stride => Head.Stride;
}

/// <summary>
/// The BiVM encoder of paper table 5. Which block output is tapped, and where the strides go, is not
/// printed legibly in the table; this layout is the one consistent with the paper's own totals
/// (docs/model.md): f1 = the 32-bit stem (16 ch, ½, as in RVM), f2 = EBB₁ (32 ch, ¼), f3 = EBB₃ (64 ch, ⅛),
/// f4 = EBB₆ (1024 ch, 1/16, dilation 2 instead of a stride, like RVM's MobileNetV3) → LR-ASPP → 128.
/// </summary>
public sealed record EbbEncoderPlan(long StemOut, IReadOnlyList<EbbPlan> Blocks, IReadOnlyList<int> Taps, long AsppOut)
{
    public static EbbEncoderPlan Table5 { get; } = new(
        StemOut: 16,
        Blocks: new EbbPlan[]
        {
            new(new(16, 32, Stride: 2), new(32, 64), new(64, 32)),
            new(new(32, 64, Stride: 2), new(64, 128), new(128, 64)),
            new(new(64, 64), new(64, 128), new(128, 64)),
            new(new(64, 128, Stride: 2), new(128, 256), new(256, 128)),
            new(new(128, 128), new(128, 256), new(256, 128)),
            new(new(128, 256, Dilation: 2), new(256, 1024, Dilation: 2), null),
        },
        // Block indices whose outputs are f2, f3, f4 (f1 is the stem).
        Taps: new[] { 0, 2, 5 },
        AsppOut: 128);

    /// <summary>Channels of f1..f4 as the decoder sees them (f4 after LR-ASPP).</summary>
    public long[] FeatureChannels => new[] { StemOut, Blocks[Taps[0]].Out, Blocks[Taps[1]].Out, AsppOut };
}
