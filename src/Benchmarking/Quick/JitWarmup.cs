using System.Diagnostics;
using System.Runtime;

namespace BiVM.Benchmarking.Quick;

/// <summary>
/// Warm-up until .NET's JIT has settled, so that a benchmark times the code a long stream runs rather than its first
/// compilation. .NET compiles a method first without optimization (tier 0, or on-stack replacement for its loops) and
/// again, optimized, once it has been called 30 times, in the background after 100 ms without new tier-0 code; a
/// model whose ops are C# (BiVM's) runs slower until that is done. Measured on the Zen 5 host (2026-12-03,
/// <c>scripts/probes/frame-loop.cs</c>, 512×288, one thread, three processes): frames 3–14 took 25.3, 31.7 and 36.2 ms
/// (medians) against 16.7, 18.6 and 23.3 ms from frame 60 on, about 30 frames to settle; the three warm-up frames
/// <c>bivm bench --models</c> ran before had it time mostly tier-0 code.
/// </summary>
public static class JitWarmup
{
    /// <summary>How long no method may have been compiled before the JIT counts as settled: several times the
    /// runtime's 100 ms call-counting delay, so that a batch of methods waiting for it is not missed.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);

    /// <summary>The most a warm-up may take; a model that still compiles code after it is timed as it then runs.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Runs <paramref name="step"/> at least <paramref name="minimumSteps"/> times, then until no method has been
    /// compiled (<see cref="JitInfo.GetCompiledMethodCount"/>, all threads) for <paramref name="quiet"/>, or until
    /// <paramref name="limit"/> has passed; returns the steps run. A zero <paramref name="quiet"/> runs the minimum only.
    /// </summary>
    public static int Run(Action step, int minimumSteps, TimeSpan quiet, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentOutOfRangeException.ThrowIfNegative(minimumSteps);
        long start = Stopwatch.GetTimestamp(), quietSince = start, compiled = JitInfo.GetCompiledMethodCount();
        for (int steps = 0; ; steps++)
        {
            bool settled = quiet <= TimeSpan.Zero || Stopwatch.GetElapsedTime(quietSince) >= quiet;
            if (steps >= minimumSteps && (settled || Stopwatch.GetElapsedTime(start) >= limit)) return steps;
            step();
            long now = JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                compiled = now;
                quietSince = Stopwatch.GetTimestamp();
            }
        }
    }
}
