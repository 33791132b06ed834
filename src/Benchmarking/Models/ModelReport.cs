namespace BiVM.Benchmarking.Models;

/// <summary>What <c>bivm bench --models</c> measured.</summary>
/// <param name="Machine">CPU, cores, .NET and ONNX Runtime versions.</param>
/// <param name="Results">One row per model, size and thread count.</param>
public sealed record ModelReport(string Machine, IReadOnlyList<ModelResult> Results);

/// <summary>One model at one size and thread count.</summary>
/// <param name="Model">A <see cref="ModelCase.Names"/> entry.</param>
/// <param name="Kernel">The binary-conv kernel the ai.bivm ops ran ("none": standard ops only).</param>
/// <param name="Ms">Median wall time of one frame, recurrent state carried from the previous one; for a pipelined model,
/// whose frames overlap, the median over the blocks of frames of the interval between outputs (a block's wall time
/// from output to output over its frames).</param>
/// <param name="MinMs">Fastest frame: on a shared machine interference only adds time.</param>
/// <param name="Fps">1000 / <paramref name="Ms"/>.</param>
/// <param name="RatioToRvm">RVM's ms / this model's ms at the same size and threads, measured in the same interleaved frames (null when RVM was not run).</param>
/// <param name="AllocatedBytesPerFrame">Managed bytes allocated per frame, all threads (median over the timed frames).</param>
/// <param name="ModelFileBytes">Size of the model file.</param>
/// <param name="Frames">Timed frames behind the median.</param>
/// <param name="Profile">Where the time goes per ONNX op type (only with --profile).</param>
/// <param name="CpuMs">1 thread only: median CPU time of the calling thread per frame (ONNX Runtime with one intra-op
/// thread computes on the caller), which counts only the cycles the frame ran: on a shared, overloaded machine the
/// estimate of the undisturbed time. Null for more threads (their work is on other threads too) or where the clock is missing.</param>
/// <param name="CpuRatioToRvm">RVM's <paramref name="CpuMs"/> / this model's.</param>
/// <param name="RatioToFastestRvm">The fastest RVM's ms (rvm or rvm-pipelined, whichever ran faster at this size and
/// thread count) / this model's ms: the ratio to read for a pipelined model, since RVM can be pipelined too (null when
/// neither was run).</param>
/// <param name="WarmupFrames">Frames run before the timed ones: at least the options' minimum, then until the JIT had
/// compiled nothing for a while (<see cref="Quick.JitWarmup"/>); 0 where not known (a report read from older JSON).</param>
/// <param name="Source">The frames timed: <see cref="ModelBench.TestCardSource"/>, or a video's (<see cref="BenchVideo.Name"/>) and how many of its first frames were taken in turn at this size.</param>
public sealed record ModelResult(string Model, int Width, int Height, float Downsample, int Threads, double Ms, double MinMs, double Fps,
    double? RatioToRvm, long AllocatedBytesPerFrame, long ModelFileBytes, string Kernel, int Frames, IReadOnlyList<OpTime>? Profile,
    double? CpuMs = null, double? CpuRatioToRvm = null, double? RatioToFastestRvm = null, int WarmupFrames = 0, string Source = ModelBench.TestCardSource);

/// <summary>Time of one ONNX op type per frame, from ONNX Runtime's profile (kernel time of its nodes, summed).</summary>
/// <param name="Share">Fraction of all nodes' kernel time.</param>
public sealed record OpTime(string OpType, int Nodes, double MsPerFrame, double Share);
