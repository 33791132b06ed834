namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>Runners for use outside ONNX Runtime (tests, raw-kernel benchmarks).</summary>
public static class ParallelRunners
{
    public static readonly ParallelRunner Sequential = (count, body) => { for (int i = 0; i < count; i++) body(i); };

    /// <summary>Parallel.For capped at <paramref name="threads"/> workers (sequential for 1).</summary>
    public static ParallelRunner Threads(int threads) => threads <= 1
        ? Sequential
        : (count, body) => Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
}
