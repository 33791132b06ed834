using System.Collections.Concurrent;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>Runners for use outside ONNX Runtime (tests, raw-kernel benchmarks).</summary>
public static class ParallelRunners
{
    private static readonly ConcurrentDictionary<int, SpinningPool> Pools = new();

    public static readonly ParallelRunner Sequential = (count, body) => { for (int i = 0; i < count; i++) body(i); };

    /// <summary>
    /// <paramref name="threads"/> threads (the caller and threads − 1 workers of a <see cref="SpinningPool"/>, one
    /// pool per thread count, kept for the process); sequential for 1.
    /// </summary>
    public static ParallelRunner Threads(int threads) => threads <= 1
        ? Sequential
        : Pools.GetOrAdd(threads, n => new SpinningPool(n)).Run;
}
