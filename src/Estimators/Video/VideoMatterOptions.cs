using BiVM.Contracts;

namespace BiVM.Estimators.Video;

/// <summary>How a <see cref="VideoMatter"/> (and the ML.NET transform) loads and runs a model.</summary>
public sealed record VideoMatterOptions
{
    /// <summary>An ONNX file of the matting contract (bivm, rvm or rvm-react); null for the default model shipped with the library.</summary>
    public string? ModelPath { get; init; }

    /// <summary>The network runs at (H·r, W·r) and the guided filter refines back to (H, W); null for min(512 / max(H, W), 1).</summary>
    public float? DownsampleRatio { get; init; }

    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime use one per physical core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Whether ONNX Runtime's intra-op threads spin between parallel sections instead of sleeping (its
    /// <c>session.intra_op.allow_spinning</c>; true, ONNX Runtime's default). Spinning is fastest when the model has
    /// the CPUs to itself (BiVM at 512×288 on 2 threads: 27 frames per second spinning, 24 sleeping). But the workers
    /// also spin for about 40 ms after every frame (measured: 37 ms of CPU time after a BiVM frame on 2 threads), so
    /// when other busy threads share the CPUs (a video decoder and encoder beside the model, as in <c>bivm matte</c>,
    /// or another model's session) that CPU time is taken from them: set false there.
    /// </summary>
    public bool SpinWhileIdle { get; init; } = true;

    /// <summary>
    /// Refuse a model file whose integrity checksum (<see cref="ModelChecksum"/>, written by <c>bivm export</c>) does
    /// not match its content: a file damaged or edited after export. Files without a checksum (other tools' exports)
    /// load either way. False loads a mismatching file anyway (bivm's <c>--no-verify</c>).
    /// </summary>
    public bool VerifyChecksum { get; init; } = true;

    /// <summary>
    /// Whether <see cref="VideoMatter.ProcessInto"/> checks that every value of the frame is in 0..1 (true): one pass
    /// over the frame, 1–3 ms at 1920×1080 (24 MB of floats), on the calling thread. False skips it, for a caller whose
    /// values are in range by construction (<c>bivm matte</c> makes them from 8-bit pixels as v / 255); values out of
    /// range then give a wrong matte instead of an error.
    /// </summary>
    public bool CheckInputRange { get; init; } = true;

    /// <summary>The largest frame, in pixels (width·height), that a stream accepts: see <see cref="DefaultMaxFramePixels"/>.</summary>
    public long MaxFramePixels { get; init; } = DefaultMaxFramePixels;

    /// <summary>
    /// 4096·4096 pixels (16.8 megapixels; 4K UHD is 8.3). Memory grows with the frame: full-resolution float copies
    /// of the input and the outputs, and the Deep Guided Filter's maps, take about 120 bytes per pixel (measured:
    /// 1.0 GB for 4K UHD, 1.9 GB at this limit, 5.0 GB for an 8000×6000 photo); a bigger frame is refused with a
    /// message that says so instead of exhausting memory.
    /// </summary>
    public const long DefaultMaxFramePixels = 4096L * 4096;

    internal void Validate()
    {
        if (DownsampleRatio is { } r && !(r > 0f && r <= 1f))
            throw new ArgumentOutOfRangeException(nameof(DownsampleRatio), r, "downsample ratio must be in (0, 1]");
        if (IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "thread count must be ≥ 0 (0 = ONNX Runtime's default)");
        if (MaxFramePixels < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxFramePixels), MaxFramePixels, "the frame size limit must be at least 1 pixel");
    }
}
