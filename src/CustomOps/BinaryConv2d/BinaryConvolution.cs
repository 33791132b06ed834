using System.Runtime.Intrinsics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// One binary conv layer prepared for execution: packed weights padded to the kernel's channel block, alpha,
/// tau, bias, the zero-padding table and the selected popcount kernel. Thread-safe: <see cref="Run"/> may be
/// called concurrently (all per-call memory is per call or per thread).
/// </summary>
/// <remarks>
/// Pipeline per call (Larq's stages): bit-pack X (parallel over input rows) → for each output row segment:
/// gather patches → popcount-accumulate (<see cref="IBinaryKernel"/>) → <see cref="ZeroPaddingCorrection"/> →
/// <see cref="OutputTransform"/>, written straight into the NCHW output row of each channel.
/// </remarks>
public sealed unsafe class BinaryConvolution : IDisposable
{
    /// <summary>Bytes of patches one segment may use: small enough to stay in L1 while every channel block reads it.</summary>
    private const int PatchBudgetBytes = 16 * 1024;

    /// <summary>
    /// Bytes of counts one segment may use (Cout rows of the segment's pixels): the kernel writes them, the correction
    /// and the output transform read them, so they should stay in L1 too. Without this bound a 256-channel layer's
    /// 224-pixel segment wrote 229 KB of counts and the stages after the popcount took longer than the popcount
    /// (Emerald Rapids, 1 thread: 3×3 256→256 0.55 → 0.30–0.34 ms of "rest", 1×1 256→128 1.9× → 2.8× ORT's FP32;
    /// 12 KB measured slower than 24). 32 KB since the twenty-eighth session: the shipped model's 64-, 128- and
    /// 256-channel 3×3 layers then take their rows of 128, 64 and 32 pixels as one segment each, not as a segment and a
    /// short one (96 + 32, 48 + 16, 16 + 16), which read the layer's weights again for a few pixels (Zen 5, 48 KB of L1
    /// data: 512×288 frames 0.993 and 1/1.003; 40 KB, the same segments here, 0.993 and 1/1.005; 64 KB 0.997).
    /// </summary>
    private const int CountsBudgetBytes = 32 * 1024;

    private readonly ulong* _weights; // 3 planes [coutPadded, KernelWords]: words, low nibbles, high nibbles; rows ≥ Cout are zero
    private readonly int _coutPadded;
    private readonly float[] _alpha, _tau, _bias;
    private readonly ZeroPaddingCorrection _correction;
    private readonly IBinaryKernel _kernel;
    private readonly IBinaryKernel? _narrow; // smaller pixel blocks for short pixel lists (KernelSelector.Narrow)
    private readonly int _segment; // output pixels per gather/count step
    private readonly bool _pointwise; // computed by PointwiseOneWord (1×1, one word, AVX2 kernels)

    /// <param name="layer">Attributes; Batch/InHeight/InWidth are ignored (given per call).</param>
    /// <param name="packedWeights">[Cout, kH, kW, words] as written by <see cref="WeightPacker"/>.</param>
    /// <param name="bias">Empty for no bias.</param>
    /// <param name="forceKernel">Kernel name from <see cref="KernelSelector"/>, or null for the best supported.</param>
    public BinaryConvolution(BinaryConv2dParams layer, ReadOnlySpan<ulong> packedWeights, ReadOnlySpan<float> alpha,
        ReadOnlySpan<float> tau, ReadOnlySpan<float> bias, string? forceKernel = null)
        : this(layer, packedWeights, alpha, tau, bias, () => KernelSelector.Select(layer, forceKernel), KernelSelector.Narrow)
    {
    }

    /// <summary>
    /// With a given kernel (and, from <paramref name="narrow"/>, its companion for short pixel lists; none if null):
    /// tests run kernels this CPU cannot (on a model CPU) through the whole pipeline.
    /// </summary>
    internal BinaryConvolution(BinaryConv2dParams layer, ReadOnlySpan<ulong> packedWeights, ReadOnlySpan<float> alpha,
        ReadOnlySpan<float> tau, ReadOnlySpan<float> bias, Func<IBinaryKernel> kernel, Func<IBinaryKernel, IBinaryKernel?>? narrow = null)
    {
        if (layer.ValidateAttributes() is { } bad) throw new ArgumentException(bad, nameof(layer));
        if (packedWeights.Length != layer.OutChannels * layer.PatchWords)
            throw new ArgumentException($"packed weights have {packedWeights.Length} words, expected Cout·kH·kW·words = {layer.OutChannels}·{layer.KernelHeight}·{layer.KernelWidth}·{layer.Words}", nameof(packedWeights));
        if (alpha.Length != layer.OutChannels) throw new ArgumentException($"alpha has {alpha.Length} values, expected Cout = {layer.OutChannels}", nameof(alpha));
        if (tau.Length != layer.InChannels) throw new ArgumentException($"tau has {tau.Length} values, expected Cin = {layer.InChannels}", nameof(tau));
        if (bias.Length != 0 && bias.Length != layer.OutChannels) throw new ArgumentException($"bias has {bias.Length} values, expected Cout = {layer.OutChannels}", nameof(bias));
        Layer = layer;
        _kernel = kernel();
        _narrow = narrow?.Invoke(_kernel) is { } n && n.PixelBlock < _kernel.PixelBlock && _kernel.PixelBlock % n.PixelBlock == 0 ? n : null;
        _coutPadded = (layer.OutChannels + IBinaryKernel.CoutBlock - 1) / IBinaryKernel.CoutBlock * IBinaryKernel.CoutBlock;
        int kernelWords = layer.KernelWords;
        long plane = (long)_coutPadded * kernelWords;
        nuint bytes = (nuint)(3 * plane * sizeof(ulong));
        _weights = (ulong*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_weights, bytes);
        for (int co = 0; co < layer.OutChannels; co++)
            for (int t = 0; t < layer.PatchWords; t++)
            {
                // Word t of the patch is word t mod Words of tap t / Words, placed as the gather places it (a bit-tight
                // tap's high channels in the next word).
                var (word, shift, spills) = layer.TapWord(t / layer.Words);
                long i = (long)co * kernelWords + word + t % layer.Words;
                ulong w = packedWeights[co * layer.PatchWords + t];
                _weights[i] |= w << shift;
                if (spills) _weights[i + 1] |= w >> (64 - shift);
            }
        IBinaryKernel.WriteNibblePlanes(_weights, plane);
        _alpha = alpha.ToArray();
        _tau = tau.ToArray();
        _bias = bias.Length == 0 ? new float[layer.OutChannels] : bias.ToArray();
        _correction = new ZeroPaddingCorrection(layer, packedWeights);
        int block = _kernel.PixelBlock;
        int byPatches = PatchBudgetBytes / (layer.KernelWords * sizeof(ulong)), byCounts = CountsBudgetBytes / (_coutPadded * sizeof(int));
        _segment = Math.Max(block, Math.Min(byPatches, byCounts) / block * block) * _kernel.SegmentScale;
        _pointwise = _kernel.Name is "avx2" or "avx2-jit" && PointwiseOneWord.Accepts(layer);
    }

    public BinaryConv2dParams Layer { get; }

    /// <summary>Whether rows go through <see cref="PointwiseOneWord"/> instead of the general pipeline (tests check which path ran).</summary>
    internal bool UsesPointwise => _pointwise;

    /// <summary>Name of the popcount kernel in use.</summary>
    public string KernelName => _kernel.Name;

    /// <summary>Dense conv: x [N, Cin, H, W] → y [N, Cout, H_out, W_out].</summary>
    /// <param name="packedInput">
    /// Null, or sign(x − tau) already packed [N, H, W, words] (<see cref="PackedLayout"/>) by the producer of x: then x
    /// is not read and the packing stage is skipped. The caller guarantees it was packed with this layer's tau.
    /// </param>
    public void Run(float* x, int batch, int height, int width, float* y, ParallelRunner parallel, ulong* packedInput = null)
    {
        var p = CheckedCall(batch, height, width);
        int hOut = p.OutHeight;
        if (packedInput is not null)
        {
            if (_pointwise) parallel(batch * hOut, row => PointwiseRow(p, packedInput, y, row / hOut, row % hOut));
            else parallel(batch * hOut, row => ComputeRow(p, packedInput, y, row / hOut, row % hOut));
            return;
        }
        using var packed = new PackedActivations(p);
        if (p.Taps == 1 && p.PadTop == 0 && p.PadLeft == 0 && p.PadBottom == 0 && p.PadRight == 0)
        {
            // 1×1 without padding: output row oy reads input row oy·sH and nothing else, so one work item packs its
            // row and computes it at once: one parallel pass instead of two (half the synchronisation on layers
            // that take ~0.1 ms), the packed row still in L1 when the gather reads it, and with stride 2 the rows
            // no output reads are never packed.
            ulong* pp = packed.Pointer;
            parallel(batch * hOut, row =>
            {
                int n = row / hOut, oy = row % hOut;
                PackRow(p, x, pp, n, oy * p.StrideHeight, 0, width);
                if (_pointwise) PointwiseRow(p, pp, y, n, oy);
                else ComputeRow(p, pp, y, n, oy);
            });
            return;
        }
        parallel(batch * height, row => PackRow(p, x, packed.Pointer, row / height, row % height, 0, width));
        parallel(batch * hOut, row => ComputeRow(p, packed.Pointer, y, row / hOut, row % hOut));
    }

    /// <summary>Managed convenience overload of <see cref="Run(float*, int, int, int, float*, ParallelRunner)"/>.</summary>
    public void Run(ReadOnlySpan<float> x, int batch, int height, int width, Span<float> y, ParallelRunner? parallel = null)
    {
        var p = CheckedCall(batch, height, width);
        if (x.Length != (long)batch * p.InChannels * height * width) throw new ArgumentException("x must be [N, Cin, H, W]", nameof(x));
        if (y.Length != (long)batch * p.OutChannels * p.OutHeight * p.OutWidth) throw new ArgumentException("y must be [N, Cout, H_out, W_out]", nameof(y));
        fixed (float* px = x) fixed (float* py = y) Run(px, batch, height, width, py, parallel ?? ParallelRunners.Sequential);
    }

    internal BinaryConv2dParams CheckedCall(int batch, int height, int width)
    {
        var p = Layer.WithInput(batch, height, width);
        if (p.ValidateInput() is { } bad) throw new ArgumentException(bad);
        return p;
    }

    /// <summary>Binarizes input pixels [ix0, ix1) of row iy of image n into the packed buffer.</summary>
    internal void PackRow(BinaryConv2dParams p, float* x, ulong* packed, int n, int iy, int ix0, int ix1)
    {
        fixed (float* tau = _tau)
            ActivationPacker.PackRow(x, tau, p.InChannels, p.InHeight, p.InWidth, n, iy, ix0, ix1,
                packed + ((long)n * p.InHeight + iy) * p.InWidth * p.Words);
    }

    /// <summary>
    /// Computes the listed output columns <paramref name="xs"/> (ascending) of output row <paramref name="oy"/> of
    /// image <paramref name="n"/> for every output channel, in steps of at most one L1-sized segment.
    /// </summary>
    internal void ComputeColumns(BinaryConv2dParams p, ulong* packed, float* y, int n, int oy, int* xs, int count) =>
        ComputeColumnsInto(p, packed, n, oy, xs, count, y + ((long)n * p.OutChannels * p.OutHeight + oy) * p.OutWidth, (long)p.OutHeight * p.OutWidth);

    /// <summary>
    /// <see cref="ComputeColumns"/> writing output channel co's row at <paramref name="row"/> + co·<paramref name="channelStride"/>
    /// (column x at + x), anywhere: in the output tensor, or in rows of its own (a glue with a folded sparse conv).
    /// </summary>
    internal void ComputeColumnsInto(BinaryConv2dParams p, ulong* packed, int n, int oy, int* xs, int count, float* row, long channelStride)
    {
        int patchWords = p.KernelWords;
        ulong* image = packed + (long)n * p.InHeight * p.InWidth * p.Words;
        ulong* patches = ThreadScratch.Patches(_segment * patchWords);
        int* counts = ThreadScratch.Counts(_coutPadded * _segment);
        fixed (float* alpha = _alpha) fixed (float* bias = _bias)
        {
            for (int s = 0; s < count; s += _segment)
            {
                int len = Math.Min(_segment, count - s);
                var kernel = KernelFor(len);
                int block = kernel.PixelBlock, blocks = (len + block - 1) / block;
                PatchGatherer.Gather(p, image, oy, xs + s, len, block, patches);
                kernel.Accumulate(patches, blocks, _weights, _coutPadded, patchWords, counts, _segment);
                _correction.Transform(p, oy, xs + s, len, counts, _segment, alpha, bias, row, channelStride);
            }
        }
    }

    /// <summary>
    /// The kernel for <paramref name="pixels"/> pixels: the narrow one where its lanes, at the 1.25× the time per lane
    /// it was measured to take on whole rows (docs/kernels.md), cost less than the idle lanes of the wide one's last
    /// block: 13 pixels take 16 narrow lanes (20 at 1.25×) against 32 wide ones; 128 pixels stay wide.
    /// </summary>
    private IBinaryKernel KernelFor(int pixels)
    {
        if (_narrow is null) return _kernel;
        int wide = _kernel.PixelBlock, narrow = _narrow.PixelBlock;
        int wideLanes = (pixels + wide - 1) / wide * wide, narrowLanes = (pixels + narrow - 1) / narrow * narrow;
        return 5 * narrowLanes < 4 * wideLanes ? _narrow : _kernel;
    }

    /// <summary>
    /// The count stage alone, as <see cref="ComputeColumns"/> calls it for a row of <paramref name="columns"/> output
    /// pixels: <paramref name="patches"/> holds one segment's gathered patches (any bits). For the stage breakdown of
    /// <c>bivm bench --kernels</c>: pack, count, and the rest (gather, correction, output transform) by difference.
    /// </summary>
    internal void CountRow(ulong* patches, int columns)
    {
        int block = _kernel.PixelBlock;
        int* counts = ThreadScratch.Counts(_coutPadded * _segment);
        for (int s = 0; s < columns; s += _segment)
            _kernel.Accumulate(patches, (Math.Min(_segment, columns - s) + block - 1) / block, _weights, _coutPadded, Layer.KernelWords, counts, _segment);
    }

    /// <summary>Words of patches one segment takes (room <see cref="CountRow"/> reads).</summary>
    internal int SegmentPatchWords => (_segment + _kernel.PixelBlock - 1) / _kernel.PixelBlock * _kernel.PixelBlock * Layer.KernelWords;

    /// <summary>Output row <paramref name="oy"/> of image <paramref name="n"/> through <see cref="PointwiseOneWord"/>.</summary>
    private void PointwiseRow(BinaryConv2dParams p, ulong* packed, float* y, int n, int oy)
    {
        long plane = (long)_coutPadded * p.KernelWords, outPlane = (long)p.OutHeight * p.OutWidth;
        ulong* row = packed + ((long)n * p.InHeight + oy * p.StrideHeight) * p.InWidth;
        fixed (float* alpha = _alpha) fixed (float* bias = _bias)
            PointwiseOneWord.Row(row, p.OutWidth, _weights, _weights + plane, _weights + 2 * plane, p.OutChannels, p.InChannels,
                alpha, bias, y + (long)n * p.OutChannels * outPlane + (long)oy * p.OutWidth, outPlane);
    }

    /// <summary>
    /// One output row of a 1×1 layer with one packed word per pixel, stride 1 and no padding, from that row's packed
    /// input words (<paramref name="width"/> of them): output channel co's row at <paramref name="y"/> +
    /// co·<paramref name="channelStride"/>, anywhere (the glue with a folded conv writes into its own rows), computed
    /// as <see cref="ComputeColumns"/> computes it but without the gather (<see cref="PointwiseCounts"/>).
    /// </summary>
    internal void PointwiseRowInto(ulong* packedRow, int width, float* y, long channelStride)
    {
        var p = Layer;
        bool fetchAhead = OutputTransform.FetchesAhead(channelStride, width);
        fixed (float* alpha = _alpha) fixed (float* bias = _bias)
            for (int s = 0; s < width; s += _segment)
            {
                int len = Math.Min(_segment, width - s);
                int* counts = PointwiseCounts(packedRow + s, len);
                OutputTransform.ApplyChannels(counts, _segment, len, p.InChannels, null, alpha, bias, p.OutChannels, y + s, channelStride, fetchAhead);
            }
    }

    /// <summary>
    /// For the same layers as <see cref="PointwiseRowInto"/>: adds each output channel's Σ popcount and Σ popcount² over
    /// the row to <paramref name="sums"/>[co] and <paramref name="squares"/>[co] (exact integers; the dots are
    /// Cin − 2·popcount), the count stage alone, no output written.
    /// </summary>
    internal void PointwiseMomentsRow(ulong* packedRow, int width, long* sums, long* squares)
    {
        for (int s = 0; s < width; s += _segment)
        {
            int len = Math.Min(_segment, width - s);
            int* counts = PointwiseCounts(packedRow + s, len);
            for (int co = 0; co < Layer.OutChannels; co++)
            {
                var (sum, square) = CountMoments(counts + (long)co * _segment, len, MomentLanes);
                sums[co] += sum;
                squares[co] += square;
            }
        }
    }

    /// <summary>
    /// The count stage of a one-word 1×1 layer for <paramref name="length"/> ≤ one segment of pixels: their counts,
    /// [coutPadded][segment] ints in the thread's scratch. The packed row is already the kernel's patch layout (one
    /// word per pixel, pixel-minor), so nothing is gathered: the kernel reads it in place, a last, partial block from
    /// a zero-padded copy so that nothing past the row is read.
    /// </summary>
    internal int* PointwiseCounts(ulong* packed, int length) => PointwiseCounts(packed, length, _segment);

    /// <summary>
    /// <see cref="PointwiseCounts(ulong*, int)"/> for any <paramref name="length"/>, channel co's counts at the result +
    /// co·<paramref name="countsStride"/> (at least <paramref name="length"/> rounded up to 64).
    /// </summary>
    internal int* PointwiseCounts(ulong* packed, int length, int countsStride)
    {
        if (!PointwiseOneWord.Accepts(Layer)) throw new InvalidOperationException($"not a one-word 1×1 layer without padding or stride: {Layer}");
        if (countsStride < (length + 63) / 64 * 64) throw new ArgumentOutOfRangeException(nameof(countsStride), countsStride, $"must hold {length} counts rounded up to 64");
        int* counts = ThreadScratch.Counts(_coutPadded * countsStride);
        var kernel = KernelFor(length);
        int block = kernel.PixelBlock, blocks = (length + block - 1) / block;
        ulong* patches = packed;
        if (length % block != 0)
        {
            patches = ThreadScratch.Patches(blocks * block);
            new ReadOnlySpan<ulong>(packed, length).CopyTo(new Span<ulong>(patches, blocks * block));
            new Span<ulong>(patches + length, blocks * block - length).Clear();
        }
        kernel.Accumulate(patches, blocks, _weights, _coutPadded, 1, counts, countsStride);
        return counts;
    }

    /// <summary>
    /// The kernel <see cref="PointwiseGram"/> counts with (8 lanes, weights' words alone: VPOPCNTQ), or null where there
    /// is none or this CPU cannot form the planes.
    /// </summary>
    private IBinaryKernel? GramKernel =>
        BitPlaneGram.IsSupported && (_narrow ?? _kernel) is { PixelBlock: 8, ReadsWeightWordsOnly: true } kernel ? kernel : null;

    /// <summary>
    /// Whether this one-word 1×1 layer takes its moments from the co-occurrences of its input's bits
    /// (<see cref="PointwiseGram"/>) rather than from its counts (<see cref="PointwiseMomentsRow"/>): where there is
    /// a kernel for it and its lanes counted per pixel, Σ over its blocks K of 8·(rows − 8K) / 64, are at most 0.8 of
    /// Cout. Measured per call at 512×288 (Zen 4, real frames): decode0's 16 → 16 (0.25 of Cout) 0.080 ms against
    /// 0.254, its 35 → 16 (0.78) 0.194 against 0.257; decode1's 59 → 32 at 256×144 (1.0) 0.232 against 0.180.
    /// </summary>
    internal bool GramPays
    {
        get
        {
            if (GramKernel is null || !PointwiseOneWord.Accepts(Layer)) return false;
            int rows = BitPlaneGram.XorRows(Layer.InChannels), lanes = 0;
            for (int k = 0; 8 * k < Layer.InChannels; k++) lanes += 8 * (rows - 8 * k);
            return lanes <= 0.8 * 64 * Layer.OutChannels;
        }
    }

    /// <summary>
    /// For a one-word 1×1 layer: adds the XOR counts of its input's bit planes over <paramref name="count"/> pixels of
    /// one word each (<paramref name="packed"/>) to <paramref name="xors"/> ([<see cref="BitPlaneGram.XorRows"/>]² longs:
    /// X[b, b'] for b &lt; Cin and b' ≥ 8·(b / 8), column Cin a zero plane's), in rounds of
    /// <see cref="BitPlaneGram.RoundPixels"/> pixels, on this layer's 8-lane kernel (<see cref="BitPlaneGram"/>).
    /// </summary>
    internal void PointwiseGram(ulong* packed, long count, long* xors)
    {
        var kernel = GramKernel ?? throw new PlatformNotSupportedException("the bit planes' counts need AVX-512 VBMI, GFNI and an 8-lane VPOPCNTQ kernel");
        if (!PointwiseOneWord.Accepts(Layer)) throw new InvalidOperationException($"not a one-word 1×1 layer without padding or stride: {Layer}");
        int cin = Layer.InChannels, rows = BitPlaneGram.XorRows(cin), blocks = (cin + 7) / 8, most = BitPlaneGram.RoundPixels / 64;
        ulong* patches = ThreadScratch.Patches(blocks * 8 * most);
        ulong* planeRows = ThreadScratch.PlaneRows(rows * most);
        int* counts = ThreadScratch.Counts(rows * 8);
        for (long done = 0; done < count; done += BitPlaneGram.RoundPixels)
        {
            int pixels = (int)Math.Min(BitPlaneGram.RoundPixels, count - done), words = (pixels + 63) / 64;
            BitPlaneGram.Planes(packed + done, pixels, blocks, patches, words);
            BitPlaneGram.Rows(patches, cin, words, rows, planeRows);
            for (int k = 0; k < blocks; k++)
            {
                // Channels 8k … 8k + 7 against the rows from 8k on (a multiple of 4, as the kernel's blocks of channels).
                int first = 8 * k, couts = rows - first;
                kernel.Accumulate(patches + 8L * k * words, 1, planeRows + (long)first * words, couts, words, counts, 8);
                for (int j = 0; j < 8 && first + j < cin; j++)
                {
                    long* to = xors + (long)(first + j) * rows + first;
                    for (int co = 0; co < couts; co++) to[co] += counts[co * 8 + j];
                }
            }
        }
    }

    /// <summary>The widest step of <see cref="CountMoments"/> this CPU runs: 16 (Vector512 hardware), 8 (Vector256), 1.</summary>
    internal static int MomentLanes => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1;

    /// <summary>
    /// Σc and Σc² of <paramref name="count"/> popcounts (each at most 64, its square 4096: int32 lanes hold a segment's
    /// sums), <paramref name="lanes"/> at a time (16, 8 or 1; integers, so every step gives the same sums).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (long Sum, long Squares) CountMoments(int* c, int count, int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !Vector512.IsHardwareAccelerated || lanes == 8 && !Vector256.IsHardwareAccelerated)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs Vector512 hardware, 8 Vector256, 1 always runs");
        int i = 0;
        long sum = 0, squares = 0;
        if (lanes == 16)
        {
            var s = Vector512<int>.Zero;
            var q = Vector512<int>.Zero;
            for (; i + 16 <= count; i += 16)
            {
                var v = Vector512.Load(c + i);
                s += v;
                q += v * v;
            }
            sum = Vector512.Sum(s);
            squares = Vector512.Sum(q);
        }
        else if (lanes == 8)
        {
            var s = Vector256<int>.Zero;
            var q = Vector256<int>.Zero;
            for (; i + 8 <= count; i += 8)
            {
                var v = Vector256.Load(c + i);
                s += v;
                q += v * v;
            }
            sum = Vector256.Sum(s);
            squares = Vector256.Sum(q);
        }
        for (; i < count; i++)
        {
            sum += c[i];
            squares += c[i] * c[i];
        }
        return (sum, squares);
    }

    /// <summary>Computes the whole output row <paramref name="oy"/> of image <paramref name="n"/>.</summary>
    internal void ComputeRow(BinaryConv2dParams p, ulong* packed, float* y, int n, int oy) =>
        ComputeRowInto(p, packed, n, oy, y + ((long)n * p.OutChannels * p.OutHeight + oy) * p.OutWidth, (long)p.OutHeight * p.OutWidth);

    /// <summary>
    /// <see cref="ComputeRow"/> writing output channel co's row at <paramref name="row"/> + co·<paramref name="channelStride"/>
    /// (as <see cref="ComputeColumnsInto"/>): in the output tensor, or in rows of its own (the ConvGRU cell's).
    /// </summary>
    internal void ComputeRowInto(BinaryConv2dParams p, ulong* packed, int n, int oy, float* row, long channelStride)
    {
        int wOut = p.OutWidth;
        ComputeColumnsInto(p, packed, n, oy, ThreadScratch.AscendingColumns(wOut), wOut, row, channelStride);
    }

    private int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) NativeMemory.AlignedFree(_weights);
        GC.SuppressFinalize(this);
    }

    ~BinaryConvolution()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) NativeMemory.AlignedFree(_weights);
    }
}
