using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.Recurrent;

/// <summary>
/// The decoder's whole ConvGRU step as one pass over bands of rows (docs/model-contract.md, "ConvGru"): the same
/// values, bit for bit, as its five ops one after the other (GruStateConcat, the ih binary conv, GruGates, the hh
/// binary conv, GruUpdate), but of all their tensors only the next state is written. Per image row r, three stages
/// run two rows apart, each on rows the one before has just made:
/// <code>
///   A(r): [x, h] row r packed against the ih conv's τ                    (GruStateConcat, the ih conv's packing)
///   B(r): G = ih(A rows r − 1 … r + 1); z = σ(G_z); [x, σ(G_r)·h] row r packed against the hh conv's τ
///                                                                        (the ih conv, GruGates, the hh conv's packing)
///   C(r): c = hh(B rows r − 1 … r + 1); h' = (1 − z)·h + z·tanh(c)        (the hh conv, GruUpdate)
/// </code>
/// A band of output rows [r0, r1) runs A on [r0 − 2, r1 + 2) and B on [r0 − 1, r1 + 1) (clipped to the image), so
/// bands are independent: with T threads the image is T bands, each recomputing at most four A and two B rows of
/// its neighbours'. The unfused ops wrote 8·C floats a pixel (the concatenation, both convs' outputs, z, the second
/// concatenation) and read them back; here the bits stay in the thread's scratch (a band's rows: tens of KB) and the
/// floats in rows of it.
/// </summary>
/// <remarks>
/// Every value is computed by the code the unfused ops run: the packer (<see cref="ActivationPacker.PackRow"/>), the
/// convs' rows (<see cref="BinaryConvolution.ComputeRowInto"/>, as the conv node's <c>ComputeRow</c>), and
/// <see cref="ConvGru"/>'s σ, reset product and blend at the same vector width. So the bits handed between the convs
/// and the next state are the unfused graph's, not merely close to them.
/// </remarks>
internal sealed unsafe class ConvGruCell : IDisposable
{
    private readonly BinaryConvolution _ih, _hh;
    private readonly float[] _tauIh, _tauHh;

    /// <param name="ihWeights">The ih conv's packed weights [2C, k, k, words(2C)] (<see cref="WeightPacker"/>).</param>
    /// <param name="ihBias">Empty for no bias; likewise <paramref name="hhBias"/>.</param>
    /// <param name="hhWeights">The hh conv's packed weights [C, k, k, words(2C)].</param>
    /// <param name="kernelSize">k: odd, both convs k × k with stride 1 and "same" padding (k / 2 on each side).</param>
    /// <param name="forceKernel">A popcount kernel by name (<see cref="KernelSelector"/>), or null for the best this CPU runs.</param>
    public ConvGruCell(ReadOnlySpan<ulong> ihWeights, ReadOnlySpan<float> ihAlpha, ReadOnlySpan<float> ihTau, ReadOnlySpan<float> ihBias,
        ReadOnlySpan<ulong> hhWeights, ReadOnlySpan<float> hhAlpha, ReadOnlySpan<float> hhTau, ReadOnlySpan<float> hhBias, int kernelSize, string? forceKernel = null)
    {
        int channels = hhAlpha.Length;
        if (channels < 1) throw new ArgumentException("the hh conv has no output channel", nameof(hhAlpha));
        if (kernelSize < 1 || kernelSize % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "an odd kernel size (same padding)");
        if (ihAlpha.Length != 2 * channels || ihTau.Length != 2 * channels || hhTau.Length != 2 * channels)
            throw new ArgumentException($"the ih conv must map 2C to 2C channels and the hh conv 2C to C (C = {channels}): ih alpha {ihAlpha.Length}, ih τ {ihTau.Length}, hh τ {hhTau.Length}");
        Channels = channels;
        _ih = new BinaryConvolution(BinaryConv2dParams.Square(1, 2 * channels, 1, 1, 2 * channels, kernelSize), ihWeights, ihAlpha, ihTau, ihBias, forceKernel);
        try
        {
            _hh = new BinaryConvolution(BinaryConv2dParams.Square(1, 2 * channels, 1, 1, channels, kernelSize), hhWeights, hhAlpha, hhTau, hhBias, forceKernel);
        }
        catch
        {
            _ih.Dispose();
            throw;
        }
        _tauIh = ihTau.ToArray();
        _tauHh = hhTau.ToArray();
    }

    /// <summary>C: the state's channels (X's; the convs' input has 2C).</summary>
    public int Channels { get; }

    /// <summary>The popcount kernel in use (<see cref="KernelSelector"/>).</summary>
    public string KernelName => _ih.KernelName;

    /// <summary>
    /// y = the next state [N, C, H, W] from x [N, C, H, W] and the state (<paramref name="state"/>, broadcast by
    /// <paramref name="strides"/>), in <paramref name="bands"/> bands of rows per image on <paramref name="runner"/>.
    /// </summary>
    /// <param name="xPackedIh">
    /// Null, or x's bits already packed against the ih conv's τ of its channels, IhTau[0..C) ([N, H, W, words(C)]), with
    /// <paramref name="xPackedHh"/> those against HhTau[0..C): then x is not read (it may be null) and A(t) only packs the state.
    /// </param>
    public void Run(float* x, float* state, StateBroadcast strides, int batch, int height, int width, float* y, int bands, ParallelRunner runner,
        ulong* xPackedIh = null, ulong* xPackedHh = null)
    {
        if (batch == 0 || height == 0 || width == 0) return;
        var ih = _ih.CheckedCall(1, height, width);
        var hh = _hh.CheckedCall(1, height, width);
        bands = Math.Clamp(bands, 1, height);
        int rows = (height + bands - 1) / bands;
        bands = (height + rows - 1) / rows;
        runner(batch * bands, task =>
        {
            int n = task / bands, r0 = task % bands * rows;
            Band(ih, hh, x, xPackedIh, xPackedHh, state, strides, n, height, width, r0, Math.Min(height, r0 + rows), y);
        });
    }

    private void Band(BinaryConv2dParams ih, BinaryConv2dParams hh, float* x, ulong* xPackedIh, ulong* xPackedHh, float* state, StateBroadcast strides,
        int n, int height, int width, int r0, int r1, float* y)
    {
        int c = Channels, lanes = ConvGru.BestLanes;
        long plane = (long)height * width;
        int a0 = Math.Max(0, r0 - 2), a1 = Math.Min(height, r1 + 2);
        int b0 = Math.Max(0, r0 - 1), b1 = Math.Min(height, r1 + 1);
        int wordsA = ih.Words, wordsB = hh.Words, half = PackedLayout.WordsFor(c);
        // The band's bits, addressed as rows of the whole image (the convs index rows absolutely; only the band's are
        // read), then one row of each half's bits ([x] and [h] or [σ(G_r)·h], C channels each) before they are merged.
        long bitsA = (long)(a1 - a0) * width * wordsA, bitsB = (long)(b1 - b0) * width * wordsB, halfRow = (long)width * half;
        using var bits = new PackedActivations(bitsA + bitsB + 4 * halfRow);
        ulong* imageA = bits.Pointer - (long)a0 * width * wordsA;
        ulong* imageB = bits.Pointer + bitsA - (long)b0 * width * wordsB;
        ulong* low = bits.Pointer + bitsA + bitsB, high = low + halfRow;
        // x's rows against the hh conv's τ, packed with its rows for the ih conv (each value read once where x has one
        // word a pixel) one step before B reads them: rows t and t − 1 (t & 1).
        ulong* xHh = high + halfRow;
        // Float rows: σ(G_r)·h (C), the gates G (2C), two rows of z (C each), the candidate c (C), and the state's rows
        // (C) where it is broadcast (the first frame's): a full state is read in place, as x is.
        float* reset = ThreadScratch.Rows(7 * c * width);
        float* gates = reset + c * width, zRows = gates + 2 * c * width, candidate = zRows + 2 * c * width, stateRows = candidate + c * width;
        float* yImage = y + (long)n * c * plane;
        bool fullState = !strides.RowRepeats && strides.Row == width && strides.Channel == plane && (strides.Batch == c * plane || n == 0 && strides.Batch == 0);

        fixed (float* tauIh = _tauIh, tauHh = _tauHh)
            for (int t = a0; t <= r1 + 1; t++)
            {
                if (t < a1)
                {
                    // A(t): [x, h] row t, packed for the ih conv: each half by itself, then side by side (x's half as
                    // given, where its producer packed it).
                    ulong* xIh = low;
                    if (xPackedIh != null) xIh = xPackedIh + ((long)n * height + t) * halfRow;
                    else ActivationPacker.PackRowTwice(x, tauIh, tauHh, c, height, width, n, t, 0, width, low, xHh + (t & 1) * halfRow);
                    if (fullState) ActivationPacker.PackRow(state, tauIh + c, c, height, width, n, t, 0, width, high);
                    else
                    {
                        for (int k = 0; k < c; k++)
                        {
                            float* s = state + strides.RowOffset(n, k, t);
                            if (strides.RowRepeats) new Span<float>(stateRows + (long)k * width, width).Fill(s[0]);
                            else Buffer.MemoryCopy(s, stateRows + (long)k * width, width * sizeof(float), width * sizeof(float));
                        }
                        ActivationPacker.PackRow(stateRows, tauIh + c, c, 1, width, 0, 0, 0, width, high);
                    }
                    PackedLayout.Join(xIh, high, c, width, imageA + (long)t * width * wordsA);
                }
                int rb = t - 1;
                if (rb >= b0 && rb < b1)
                {
                    // B(rb): the gates, z kept for C(rb), [x, σ(G_r)·h] packed for the hh conv.
                    _ih.ComputeRowInto(ih, imageA, 0, rb, gates, width);
                    float* z = zRows + (long)(rb & 1) * c * width;
                    for (int k = 0; k < c; k++)
                    {
                        ConvGru.SigmoidRow(gates + (long)(c + k) * width, z + (long)k * width, width, lanes);
                        float* s = state + strides.RowOffset(n, k, rb);
                        ConvGru.ResetProductRow(gates + (long)k * width, s, strides.RowRepeats, reset + (long)k * width, width, lanes);
                    }
                    ActivationPacker.PackRow(reset, tauHh + c, c, 1, width, 0, 0, 0, width, high);
                    ulong* xRow = xPackedHh != null ? xPackedHh + ((long)n * height + rb) * halfRow : xHh + (rb & 1) * halfRow;
                    PackedLayout.Join(xRow, high, c, width, imageB + (long)rb * width * wordsB);
                }
                int rc = t - 2;
                if (rc >= r0 && rc < r1)
                {
                    // C(rc): the candidate and the next state's row.
                    _hh.ComputeRowInto(hh, imageB, 0, rc, candidate, width);
                    float* z = zRows + (long)(rc & 1) * c * width;
                    for (int k = 0; k < c; k++)
                    {
                        float* s = state + strides.RowOffset(n, k, rc);
                        float* yRow = yImage + k * plane + (long)rc * width;
                        // The channel's row two rows on into L2 (C rows a plane apart: RowPrefetch).
                        if (lanes == 16) RowPrefetch.Ahead(yRow, width);
                        ConvGru.UpdateRow(candidate + (long)k * width, z + (long)k * width, s, strides.RowRepeats, yRow, width, lanes);
                    }
                }
            }
    }

    public void Dispose()
    {
        _ih.Dispose();
        _hh.Dispose();
    }
}
