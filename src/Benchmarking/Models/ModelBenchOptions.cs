namespace BiVM.Benchmarking.Models;

/// <summary>One input size: the frame (width × height) and the downsample ratio the network runs at.</summary>
public sealed record BenchSize(int Width, int Height, float Downsample)
{
    /// <summary>The sizes: 512×288 and 512×512 at full resolution, 1920×1080 at ratio 0.25 (the network sees 480×270).</summary>
    public static readonly IReadOnlyList<BenchSize> Defaults = [new(512, 288, 1f), new(512, 512, 1f), new(1920, 1080, 0.25f)];
}

/// <summary>
/// Real frames for <see cref="ModelBench.Run"/> instead of the test card: what a video costs, whose SHB mask follows the
/// picture (the test card's smooth picture leaves about 5 % of decode0's mask active, vtest.avi about a quarter).
/// </summary>
/// <param name="name">How the report names the frames (the file's name; the report adds how many frames each size took).</param>
/// <param name="framesAt">The frames at a width and height, planar RGB in 0..1, in order; called once per size.</param>
public sealed class BenchVideo(string name, Func<int, int, IReadOnlyList<float[]>> framesAt)
{
    /// <summary>How the report names the frames.</summary>
    public string Name { get; } = name;

    /// <summary>The frames at <paramref name="width"/>×<paramref name="height"/> (at least one).</summary>
    public IReadOnlyList<float[]> FramesAt(int width, int height)
    {
        var frames = framesAt(width, height);
        if (frames.Count == 0) throw new InvalidOperationException($"{Name}: no frames at {width}x{height}");
        return frames;
    }
}

/// <summary>What <see cref="ModelBench.Run"/> measures.</summary>
public sealed record ModelBenchOptions
{
    /// <summary>Real frames, taken in turn (every model times the same frames in the same order); null: the test card, every frame.</summary>
    public BenchVideo? Video { get; init; }

    /// <summary>Sizes, in report order.</summary>
    public IReadOnlyList<BenchSize> Sizes { get; init; } = BenchSize.Defaults;

    /// <summary>ONNX Runtime intra-op thread counts.</summary>
    public IReadOnlyList<int> Threads { get; init; } = [1, 2];

    /// <summary>Frames run at least before timing starts (recurrent state warm, buffers allocated); then more, until
    /// the JIT has compiled nothing for <see cref="JitQuiet"/> (<see cref="Quick.JitWarmup"/>).</summary>
    public int WarmupFrames { get; init; } = 3;

    /// <summary>How long the JIT must have compiled nothing before timing starts (zero: <see cref="WarmupFrames"/> only).</summary>
    public TimeSpan JitQuiet { get; init; } = Quick.JitWarmup.Quiet;

    /// <summary>Timed frames per model; the reported time is their median.</summary>
    public int Frames { get; init; } = 9;

    /// <summary>Also profile each model per ONNX op type (separate sessions, after the timing: profiling costs time).</summary>
    public bool Profile { get; init; }

    /// <summary>
    /// CI's dry mode: every model once at one small size on one thread, one warm-up frame and one timed frame: it
    /// proves the suite builds and runs, its numbers mean nothing.
    /// </summary>
    public static ModelBenchOptions Dry { get; } = new() { Sizes = [new(128, 72, 1f)], Threads = [1], WarmupFrames = 1, JitQuiet = TimeSpan.Zero, Frames = 1 };
}
