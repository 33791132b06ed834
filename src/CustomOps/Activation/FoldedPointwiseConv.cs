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

    /// <param name="packedWeights">[Cout, 1, 1, 1] as <see cref="BitPacking.WeightPacker"/> writes them: one word per output channel.</param>
    /// <param name="tau">The conv's τ [Cin] (its input comes packed with it; here it gives Cin).</param>
    /// <param name="bias">Empty for no bias.</param>
    /// <param name="forceKernel">A popcount kernel by name (<see cref="KernelSelector"/>), or null for the best this CPU runs.</param>
    public FoldedPointwiseConv(ReadOnlySpan<ulong> packedWeights, ReadOnlySpan<float> alpha, ReadOnlySpan<float> tau, ReadOnlySpan<float> bias, string? forceKernel = null)
    {
        if (tau.Length is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(tau), tau.Length, "a folded 1×1 conv reads one packed word per pixel: 1 to 64 input channels");
        _conv = new BinaryConvolution(new BinaryConv2dParams(1, tau.Length, 1, 1, alpha.Length, 1, 1), packedWeights, alpha, tau, bias, forceKernel);
        _alpha = alpha.ToArray();
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

    /// <summary>Adds each output channel's Σ popcount and Σ popcount² over one row to <paramref name="sums"/> and <paramref name="squares"/> ([Cout] each).</summary>
    public void MomentsRow(ulong* packed, int width, long* sums, long* squares) => _conv.PointwiseMomentsRow(packed, width, sums, squares);

    /// <summary>
    /// μ and σ² (biased) of output channel <paramref name="channel"/>'s D = alpha·dot + bias over <paramref name="count"/>
    /// pixels, from the exact Σ popcount and Σ popcount² (<see cref="MomentsRow"/>): the dots' moments are exact
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
