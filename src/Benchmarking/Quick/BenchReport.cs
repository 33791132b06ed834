namespace BiVM.Benchmarking.Quick;

/// <summary>What <c>bivm bench --kernels</c> measures; serialized as is for <c>--json</c>.</summary>
public sealed record BenchReport(
    string Machine,
    string Clock,
    IReadOnlyList<string> SupportedKernels,
    IReadOnlyList<PeakRow> Peaks,
    IReadOnlyList<LayerRow> Layers,
    IReadOnlyList<SparseRow> Sparse,
    IReadOnlyList<ScalingRow> Scaling);

/// <summary>XOR + popcount throughput of one method on L1-resident data.</summary>
public sealed record PeakRow(string Method, int Threads, double GbitPerSecond);

/// <summary>
/// One layer at one thread count. Speed-up = FP32 ms / op ms. Binary Gbit/s = MACs / op time (1 MAC = 1 bit).
/// FractionOfPeak: of the best popcount method at that thread count; FractionOfMethodPeak: of the method the kernel uses (null where that method has no peak loop here).
/// RawPackMs and RawCountMs: the raw conv's bit-packing and popcount stages timed alone (same runner), so the rest of RawMs is gather, correction and output transform.
/// </summary>
public sealed record LayerRow(string Layer, int Threads, string Kernel, double MegaMacs, double OrtFp32Ms, double OpMs, double RawMs,
    double SpeedUp, double BinaryGbitPerSecond, double FractionOfPeak, double? FractionOfMethodPeak, double RawPackMs, double RawCountMs);

/// <summary>
/// SparseBinaryConv2d at a ~10 % mask (random cells of MaskScale² pixels) against BinaryConv2d on the same layer; and folded into the glue that adds it
/// (as the shipped model runs SHB): that glue at the mask, and with no cell active, whose difference is what the conv
/// costs there.
/// </summary>
public sealed record SparseRow(string Layer, int Threads, string Kernel, int MaskScale, double ActiveFraction, double DenseOpMs, double SparseOpMs, double RawDenseMs, double RawSparseMs, double OutputWriteMs,
    double FoldedMs, double FoldedIdleMs, double FoldedPackedMs, double FoldedPackedIdleMs)
{
    /// <summary>The folded conv's own time: the glue at the mask less the glue with no cell active.</summary>
    public double FoldedSparseMs => FoldedMs - FoldedIdleMs;
    /// <summary>The folded conv's time against the raw dense conv: the sparse/dense ratio SHB pays in the shipped model.</summary>
    public double FoldedRatio => FoldedSparseMs / RawDenseMs;
    /// <summary>The same with the conv's input handed over packed (as the shipped model does; the producer's packing not counted).</summary>
    public double FoldedPackedRatio => (FoldedPackedMs - FoldedPackedIdleMs) / RawDenseMs;
    public double OpRatio => SparseOpMs / DenseOpMs;
    public double RawRatio => RawSparseMs / RawDenseMs;
    /// <summary>The output write alone against the raw dense conv: the sparse/dense ratio no sparse kernel goes below.</summary>
    public double WriteRatio => OutputWriteMs / RawDenseMs;
}

/// <summary>
/// Thread scaling of one layer: 1 and N threads timed in the same interleaved samples, all on wall time, so both
/// see the same machine load; ORT's own FP32 Conv is timed alongside as the control for what the machine allowed.
/// </summary>
public sealed record ScalingRow(string Layer, string Kernel, int Threads, double OpMs1, double OpMsN, double RawMs1, double RawMsN, double Fp32Ms1, double Fp32MsN)
{
    public double OpScaling => OpMs1 / OpMsN;
    public double RawScaling => RawMs1 / RawMsN;
    public double Fp32Scaling => Fp32Ms1 / Fp32MsN;
}
