namespace BiVM.Data.Synthesis;

/// <summary>
/// One composited clip, planar RGB in [0, 1], time-major like RVM's tensors:
/// <see cref="Src"/>, <see cref="Fgr"/>, <see cref="Bgr"/> are [T,3,H,W], <see cref="Pha"/> is [T,1,H,W].
/// For generated clips Src = Fgr·Pha + Bgr·(1−Pha) holds exactly, element by element, in float32.
/// A clip read from an eval folder may lack Fgr and Bgr.
/// </summary>
public sealed class Clip
{
    public Clip(int frames, int height, int width, float[] src, float[] pha, float[]? fgr = null, float[]? bgr = null, string description = "")
    {
        if (frames <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"Clip shape must be positive, got T={frames}, H={height}, W={width}.");
        Frames = frames;
        Height = height;
        Width = width;
        Src = Check(src, 3, nameof(src));
        Pha = Check(pha, 1, nameof(pha));
        Fgr = fgr is null ? null : Check(fgr, 3, nameof(fgr));
        Bgr = bgr is null ? null : Check(bgr, 3, nameof(bgr));
        Description = description;
    }

    public int Frames { get; }
    public int Height { get; }
    public int Width { get; }
    public int PixelsPerFrame => Height * Width;

    public float[] Src { get; }
    public float[] Pha { get; }
    public float[]? Fgr { get; }
    public float[]? Bgr { get; }

    /// <summary>Where the clip came from (seed, index, media ids) or the folder it was read from.</summary>
    public string Description { get; }

    /// <summary>
    /// A clip with every tensor allocated but not cleared: the caller must write every element
    /// (the generator does; skipping the zeroing of ~20 MB per clip matters at 10 clips/s).
    /// </summary>
    internal static Clip AllocateUninitialized(int frames, int height, int width, string description)
    {
        long pixels = (long)frames * height * width;
        if (pixels * 3 > Array.MaxLength)
            throw new ArgumentException($"Clip T={frames}, H={height}, W={width} is too large for one array.");
        int n1 = (int)pixels, n3 = (int)(pixels * 3);
        return new Clip(frames, height, width,
            GC.AllocateUninitializedArray<float>(n3), GC.AllocateUninitializedArray<float>(n1),
            GC.AllocateUninitializedArray<float>(n3), GC.AllocateUninitializedArray<float>(n3), description);
    }

    /// <summary>Channel plane c of frame t of a [T,C,H,W] tensor.</summary>
    public Span<float> Plane(float[] tensor, int t, int channel, int channels)
    {
        if ((uint)t >= (uint)Frames) throw new ArgumentOutOfRangeException(nameof(t), t, $"clip has {Frames} frames");
        if ((uint)channel >= (uint)channels) throw new ArgumentOutOfRangeException(nameof(channel), channel, $"tensor has {channels} channels");
        return tensor.AsSpan((t * channels + channel) * PixelsPerFrame, PixelsPerFrame);
    }

    /// <summary>Alpha of frame t, H·W values.</summary>
    public ReadOnlySpan<float> AlphaFrame(int t) => Plane(Pha, t, 0, 1);

    private float[] Check(float[] tensor, int channels, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        long expected = (long)Frames * channels * Height * Width;
        if (tensor.LongLength != expected)
            throw new ArgumentException(
                $"{name} has {tensor.LongLength} values; [T={Frames},{channels},H={Height},W={Width}] needs {expected}.", name);
        return tensor;
    }
}
