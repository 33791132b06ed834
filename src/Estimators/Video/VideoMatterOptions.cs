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

    internal void Validate()
    {
        if (DownsampleRatio is { } r && !(r > 0f && r <= 1f))
            throw new ArgumentOutOfRangeException(nameof(DownsampleRatio), r, "downsample ratio must be in (0, 1]");
        if (IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "thread count must be ≥ 0 (0 = ONNX Runtime's default)");
    }
}
