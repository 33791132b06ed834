namespace BiVM.Benchmarking.Models;

/// <summary>One input size: the frame (width × height) and the downsample ratio the network runs at.</summary>
public sealed record BenchSize(int Width, int Height, float Downsample)
{
    /// <summary>The sizes: 512×288 and 512×512 at full resolution, 1920×1080 at ratio 0.25 (the network sees 480×270).</summary>
    public static readonly IReadOnlyList<BenchSize> Defaults = [new(512, 288, 1f), new(512, 512, 1f), new(1920, 1080, 0.25f)];
}

/// <summary>What <see cref="ModelBench.Run"/> measures.</summary>
public sealed record ModelBenchOptions
{
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
