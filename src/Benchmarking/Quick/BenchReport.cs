namespace BiVM.Benchmarking.Quick;

/// <summary>What <c>bivm bench --kernels</c> measures; serialized as is for <c>--json</c>.</summary>
public sealed record BenchReport(
    string Machine,
    string Clock,
    IReadOnlyList<string> SupportedKernels,
    IReadOnlyList<PeakRow> Peaks,
    IReadOnlyList<LayerRow> Layers,
    IReadOnlyList<SparseRow> Sparse);

/// <summary>XOR + popcount throughput of one method on L1-resident data.</summary>
public sealed record PeakRow(string Method, int Threads, double GbitPerSecond);

/// <summary>
/// One layer at one thread count. Speed-up = FP32 ms / op ms. Binary Gbit/s = MACs / op time (1 MAC = 1 bit).
/// FractionOfPeak: of the best popcount method at that thread count; FractionOfMethodPeak: of the method the kernel uses (null where that method has no peak loop here).
/// </summary>
public sealed record LayerRow(string Layer, int Threads, string Kernel, double MegaMacs, double OrtFp32Ms, double OpMs, double RawMs,
    double SpeedUp, double BinaryGbitPerSecond, double FractionOfPeak, double? FractionOfMethodPeak);

/// <summary>SparseBinaryConv2d at a ~10 % mask against BinaryConv2d on the same layer.</summary>
public sealed record SparseRow(string Layer, int Threads, string Kernel, double ActiveFraction, double DenseOpMs, double SparseOpMs, double RawDenseMs, double RawSparseMs)
{
    public double OpRatio => SparseOpMs / DenseOpMs;
    public double RawRatio => RawSparseMs / RawDenseMs;
}
