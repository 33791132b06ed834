using System.Buffers;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// The 1×1 binary conv folded into the <c>ShortcutRPReLU</c> it feeds (inputs PointwiseW … PointwiseXPacked,
/// docs/model-contract.md): the glue asks it for the exact integer moments of its dots (the folded
/// InstanceNormalization's statistics) and then for its output rows, both from the packed input bits with the
/// layer's own popcount kernel reading the packed rows in place (<see cref="BinaryConvolution.PointwiseRowInto"/>),
/// instead of a conv node writing a float tensor that the glue reads back twice. The rows are the conv's bits; only
/// layers with one packed word per pixel (Cin ≤ 64), stride 1 and no padding are folded.
/// </summary>
internal sealed unsafe class FoldedPointwiseConv : IDisposable
{
    private readonly BinaryConvolution _conv;
    private readonly float[] _alpha, _bias;
    private readonly ulong[] _weights; // one word per output channel

    /// <param name="packedWeights">[Cout, 1, 1, 1] as <see cref="BitPacking.WeightPacker"/> writes them: one word per output channel.</param>
    /// <param name="tau">The conv's τ [Cin] (its input comes packed with it; here it gives Cin).</param>
    /// <param name="bias">Empty for no bias.</param>
    /// <param name="forceKernel">A popcount kernel by name (<see cref="KernelSelector"/>), or null for the best this CPU runs.</param>
    public FoldedPointwiseConv(ReadOnlySpan<ulong> packedWeights, ReadOnlySpan<float> alpha, ReadOnlySpan<float> tau, ReadOnlySpan<float> bias, string? forceKernel = null)
    {
        if (tau.Length is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(tau), tau.Length, "a folded 1×1 conv reads one packed word per pixel: 1 to 64 input channels");
        _conv = new BinaryConvolution(new BinaryConv2dParams(1, tau.Length, 1, 1, alpha.Length, 1, 1), packedWeights, alpha, tau, bias, forceKernel);
        _alpha = alpha.ToArray();
        _weights = packedWeights.ToArray();
        _bias = bias.IsEmpty ? new float[alpha.Length] : bias.ToArray();
    }

    public int InChannels => _conv.Layer.InChannels;

    public int OutChannels => _conv.Layer.OutChannels;

    /// <summary>The popcount kernel in use (<see cref="KernelSelector"/>).</summary>
    public string KernelName => _conv.KernelName;

    /// <summary>The whole output [N, Cout, H, W] from the packed input [N, H, W, 1], as the conv node computes it.</summary>
    public void Run(ulong* packed, int batch, int height, int width, float* y, ParallelRunner runner) =>
        _conv.Run(null, batch, height, width, y, runner, packed);

    /// <summary>Every output channel of one row of <paramref name="width"/> pixels: channel co's row at <paramref name="y"/> + co·<paramref name="channelStride"/>.</summary>
    public void Rows(ulong* packed, int width, float* y, long channelStride) => _conv.PointwiseRowInto(packed, width, y, channelStride);

    /// <summary>
    /// The popcounts of a row of <paramref name="width"/> pixels of packed input, output channel co's at the result +
    /// co·<see cref="RowCountsStride"/>(width) (the thread's scratch, valid until its next count): the conv's output is
    /// <see cref="OutputTransform.One"/>(Cin − 2·count, <see cref="Alpha"/>(co), <see cref="Bias"/>(co)).
    /// </summary>
    public int* RowCounts(ulong* packed, int width) => _conv.PointwiseCounts(packed, width, RowCountsStride(width));

    /// <summary>The distance between two channels' counts in <see cref="RowCounts"/>: the width rounded up to 64.</summary>
    public static int RowCountsStride(int width) => (width + 63) / 64 * 64;

    /// <summary>The conv's alpha, per output channel.</summary>
    public float Alpha(int channel) => _alpha[channel];

    /// <summary>The conv's bias, per output channel (zero without one).</summary>
    public float Bias(int channel) => _bias[channel];

    /// <summary>Adds each output channel's Σ popcount and Σ popcount² over one row to <paramref name="sums"/> and <paramref name="squares"/> ([Cout] each).</summary>
    public void MomentsRow(ulong* packed, int width, long* sums, long* squares) => _conv.PointwiseMomentsRow(packed, width, sums, squares);

    /// <summary>
    /// Whether <see cref="Moments"/> takes the co-occurrences of the input's bits (<see cref="BitPlaneGram"/>) rather
    /// than every pixel's counts (<see cref="MomentsRow"/>): on CPUs with AVX-512 VBMI, GFNI and VPOPCNTQ, for layers
    /// with few input channels beside their outputs (<see cref="BinaryConvolution.GramPays"/>).
    /// </summary>
    public bool TakesGram => _conv.GramPays;

    /// <summary>Bands of rows per image in <see cref="Moments"/>: enough tasks for the intra-op threads, few partial sums.</summary>
    private const int MomentBands = 8;

    /// <summary>
    /// Each image's Σ popcount and Σ popcount² per output channel over its <paramref name="height"/> ×
    /// <paramref name="width"/> pixels of packed input ([N, H, W, 1] at <paramref name="packed"/>): into
    /// <paramref name="sums"/>[n·Cout + co] and <paramref name="squares"/>[n·Cout + co], from bands of rows on
    /// <paramref name="runner"/> (exact integers, so in any order), by co-occurrences where <paramref name="gram"/>
    /// (default <see cref="TakesGram"/>), else by counts. Both give the same integers.
    /// </summary>
    public void Moments(ParallelRunner runner, ulong* packed, int batch, int height, int width, long* sums, long* squares, bool? gram = null)
    {
        int cout = OutChannels, bands = Math.Max(1, Math.Min(height, MomentBands));
        bool byGram = gram ?? TakesGram;
        int cin = InChannels, rows = BitPlaneGram.XorRows(cin), stride = BitPlaneGram.Stride(cin);
        // Per task: the band's XOR counts ([rows]²), or its sums and squares ([2·Cout]).
        int partialLength = byGram ? rows * rows : 2 * cout;
        long[] rented = ArrayPool<long>.Shared.Rent(batch * bands * partialLength);
        try
        {
            fixed (long* pinned = rented)
            {
                long* partial = pinned; // a fixed local cannot be captured by the lambda
                new Span<long>(partial, batch * bands * partialLength).Clear();
                runner(batch * bands, task =>
                {
                    int n = task / bands, band = task % bands, first = (int)((long)height * band / bands), end = (int)((long)height * (band + 1) / bands);
                    long* at = partial + (long)task * partialLength;
                    ulong* rowsFrom = packed + ((long)n * height + first) * width;
                    if (byGram) _conv.PointwiseGram(rowsFrom, (long)(end - first) * width, at);
                    else for (int iy = 0; iy < end - first; iy++) MomentsRow(rowsFrom + (long)iy * width, width, at, at + cout);
                });
                long* m = stackalloc long[stride * stride];
                for (int n = 0; n < batch; n++)
                {
                    // The bands' partials of image n summed into its first band's.
                    long* total = partial + (long)n * bands * partialLength;
                    for (int band = 1; band < bands; band++)
                        for (int i = 0; i < partialLength; i++) total[i] += total[(long)band * partialLength + i];
                    if (byGram)
                    {
                        new Span<long>(m, stride * stride).Clear();
                        BitPlaneGram.Cooccurrence(total, cin, m);
                        for (int co = 0; co < cout; co++)
                            (sums[n * cout + co], squares[n * cout + co]) = BitPlaneGram.Moments(m, cin, (long)height * width, _weights[co]);
                    }
                    else
                        for (int co = 0; co < cout; co++)
                            (sums[n * cout + co], squares[n * cout + co]) = (total[co], total[cout + co]);
                }
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// μ and σ² (biased) of output channel <paramref name="channel"/>'s D = alpha·dot + bias over <paramref name="count"/>
    /// pixels, from the exact Σ popcount and Σ popcount² (<see cref="Moments"/>): the dots' moments are exact
    /// integers (dot = Cin − 2·popcount), their variance one rounding from its exact Int128 numerator, then
    /// μ = alpha·μ_dot + bias and σ² = alpha²·σ²_dot in float64. The statistics of D as real numbers, where the
    /// unfolded glue takes those of D rounded to float32 (docs/model-contract.md: within float rounding).
    /// </summary>
    public (double Mean, double Variance) Statistics(int channel, long popcounts, long squares, long count)
    {
        long cin = InChannels;
        Int128 dots = (Int128)count * cin - 2 * (Int128)popcounts;
        Int128 dotSquares = (Int128)count * cin * cin - 4 * (Int128)cin * popcounts + 4 * (Int128)squares;
        double meanDot = (double)dots / count;
        double varianceDot = (double)((Int128)count * dotSquares - dots * dots) / ((double)count * count);
        double alpha = _alpha[channel];
        return (alpha * meanDot + _bias[channel], alpha * alpha * varianceDot);
    }

    public void Dispose() => _conv.Dispose();
}
