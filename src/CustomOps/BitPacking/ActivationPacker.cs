using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.BitPacking;

/// <summary>
/// Binarizes float NCHW activations, a = sign(x − τ[c]) with sign(0) = +1, into the channels-last packed layout
/// [N, H, W, words] of <see cref="PackedLayout"/>.
/// </summary>
/// <remarks>
/// <para>NCHW puts a pixel's 64 channels 4·H·W bytes apart, so packing one pixel at a time would touch 64 cache
/// lines per word. Instead each channel's row is read sequentially: one 8-wide vector compare gives an 8-bit mask
/// for 8 neighbouring pixels (bit j = pixel j). Eight channels' masks form an 8×8 bit matrix (byte i = channel i);
/// transposing it gives byte j = pixel j with bit i = channel i, which is exactly one byte of that pixel's word.</para>
/// <para>Where the CPU has 256- or 512-bit vectors, <see cref="PackRowLanes"/> does without the transpose: one vector
/// lane per pixel holds the low or high 32 channels of that pixel's word, and each channel's compare ORs its bit into
/// the lanes where it is set (a compare, a select); two 32-bit halves are interleaved into the words at the end. The
/// row's last pixels (fewer than a vector) take the transposing path.</para>
/// <para>The comparison is <c>!((x − τ) ≥ 0)</c> on the float difference, the same operations as the lowered ONNX
/// graph (Sub, GreaterOrEqual, Where), so the two agree bit for bit even for NaN.</para>
/// </remarks>
internal static unsafe class ActivationPacker
{
    /// <summary>
    /// Packs pixels [<paramref name="ix0"/>, <paramref name="ix1"/>) of input row <paramref name="iy"/> of image
    /// <paramref name="n"/>. <paramref name="rowDst"/> points at the packed row (pixel 0, word 0).
    /// </summary>
    public static void PackRow(float* x, float* tau, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst)
    {
        if (BestLanes > 1) PackRowLanes(x, tau, cin, h, w, n, iy, ix0, ix1, rowDst, BestLanes);
        else PackRow(x, tau, cin, h, w, n, iy, ix0, ix1, rowDst, Avx512Vbmi.IsSupported);
    }

    /// <summary>
    /// <see cref="PackRow(float*, float*, int, int, int, int, int, int, int, ulong*)"/> against two sets of τ at once, each
    /// channel's row read once: the words against <paramref name="tau"/> into the packed row at <paramref name="rowDst"/>,
    /// those against <paramref name="tauSecond"/> into the one at <paramref name="secondDst"/> (each at pixel 0's words,
    /// as for PackRow; rows of more than 64 channels are packed once for each τ). A row that two binary convs read with
    /// their own τ (a glue's output for SHB's 1×1 and sparse conv, the ConvGRU's input for its two convs) was packed
    /// twice, reading its floats twice. Blocks of 64 pixels (32 on AVX2, which has the
    /// registers for it only up to 32 channels) take both; the pixels after them, and rows the blocks do not fit, are
    /// packed once for each τ. The same bits as two calls. Frames 0.997 and 1/1.002, AVX2 paths 0.997 (Zen 4, real
    /// frames; docs/kernels.md, twenty-fourth session).
    /// </summary>
    public static void PackRowTwice(float* x, float* tau, float* tauSecond, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst, ulong* secondDst)
    {
        int lanes = BestLanes, step = 4 * lanes, blocks = lanes == 16 || lanes == 8 && cin <= 32 ? (ix1 - ix0) / step : 0;
        if (cin > 64) blocks = 0;
        long plane = (long)h * w;
        float* row0 = x + ((long)n * cin * h + iy) * w;
        for (int b = 0; b < blocks; b++)
        {
            int px = ix0 + b * step;
            if (lanes == 16) Lanes512x4Twice(row0 + px, plane, tau, tauSecond, cin, rowDst + px, secondDst + px);
            else Lanes256x4Twice(row0 + px, plane, tau, tauSecond, cin, rowDst + px, secondDst + px);
        }
        int from = ix0 + blocks * step;
        if (from == ix1) return;
        PackRow(x, tau, cin, h, w, n, iy, from, ix1, rowDst);
        PackRow(x, tauSecond, cin, h, w, n, iy, from, ix1, secondDst);
    }

    /// <summary><see cref="LanesBlock512{TSteps}"/> of four steps against two sets of τ: 64 pixels' words of up to 64 channels into d[0..64) and e[0..64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lanes512x4Twice(float* src, long plane, float* tau, float* tauSecond, int count, ulong* d, ulong* e)
    {
        Vector512<uint> lo0 = default, lo1 = default, lo2 = default, lo3 = default, hi0 = default, hi1 = default, hi2 = default, hi3 = default;
        Vector512<uint> lo0s = default, lo1s = default, lo2s = default, lo3s = default, hi0s = default, hi1s = default, hi2s = default, hi3s = default;
        int low = Math.Min(32, count);
        for (int c = 0; c < low; c++)
        {
            float* row = src + c * plane;
            var t = Vector512.Create(PackedLayout.Threshold(tau[c]));
            var u = Vector512.Create(PackedLayout.Threshold(tauSecond[c]));
            var bit = Vector512.Create(1u << c);
            var v0 = Vector512.Load(row); var v1 = Vector512.Load(row + 16); var v2 = Vector512.Load(row + 32); var v3 = Vector512.Load(row + 48);
            lo0 = SetWhereBelow(lo0, v0, t, bit); lo1 = SetWhereBelow(lo1, v1, t, bit); lo2 = SetWhereBelow(lo2, v2, t, bit); lo3 = SetWhereBelow(lo3, v3, t, bit);
            lo0s = SetWhereBelow(lo0s, v0, u, bit); lo1s = SetWhereBelow(lo1s, v1, u, bit); lo2s = SetWhereBelow(lo2s, v2, u, bit); lo3s = SetWhereBelow(lo3s, v3, u, bit);
        }
        for (int c = 32; c < count; c++)
        {
            float* row = src + c * plane;
            var t = Vector512.Create(PackedLayout.Threshold(tau[c]));
            var u = Vector512.Create(PackedLayout.Threshold(tauSecond[c]));
            var bit = Vector512.Create(1u << (c - 32));
            var v0 = Vector512.Load(row); var v1 = Vector512.Load(row + 16); var v2 = Vector512.Load(row + 32); var v3 = Vector512.Load(row + 48);
            hi0 = SetWhereBelow(hi0, v0, t, bit); hi1 = SetWhereBelow(hi1, v1, t, bit); hi2 = SetWhereBelow(hi2, v2, t, bit); hi3 = SetWhereBelow(hi3, v3, t, bit);
            hi0s = SetWhereBelow(hi0s, v0, u, bit); hi1s = SetWhereBelow(hi1s, v1, u, bit); hi2s = SetWhereBelow(hi2s, v2, u, bit); hi3s = SetWhereBelow(hi3s, v3, u, bit);
        }
        Interleave512(lo0, hi0, d); Interleave512(lo1, hi1, d + 16); Interleave512(lo2, hi2, d + 32); Interleave512(lo3, hi3, d + 48);
        Interleave512(lo0s, hi0s, e); Interleave512(lo1s, hi1s, e + 16); Interleave512(lo2s, hi2s, e + 32); Interleave512(lo3s, hi3s, e + 48);
    }

    /// <summary><see cref="Lanes256x4"/> against two sets of τ for at most 32 channels: 32 pixels' words into d[0..32) and e[0..32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lanes256x4Twice(float* src, long plane, float* tau, float* tauSecond, int count, ulong* d, ulong* e)
    {
        Vector256<uint> lo0 = default, lo1 = default, lo2 = default, lo3 = default, lo0s = default, lo1s = default, lo2s = default, lo3s = default;
        for (int c = count - 1; c >= 0; c--)
        {
            float* row = src + c * plane;
            var t = Threshold256(tau[c]);
            var u = Threshold256(tauSecond[c]);
            var v0 = Vector256.Load(row); var v1 = Vector256.Load(row + 8); var v2 = Vector256.Load(row + 16); var v3 = Vector256.Load(row + 24);
            lo0 = Double(lo0, v0, t); lo1 = Double(lo1, v1, t); lo2 = Double(lo2, v2, t); lo3 = Double(lo3, v3, t);
            lo0s = Double(lo0s, v0, u); lo1s = Double(lo1s, v1, u); lo2s = Double(lo2s, v2, u); lo3s = Double(lo3s, v3, u);
        }
        var zero = Vector256<uint>.Zero;
        Interleave256(lo0, zero, d); Interleave256(lo1, zero, d + 8); Interleave256(lo2, zero, d + 16); Interleave256(lo3, zero, d + 24);
        Interleave256(lo0s, zero, e); Interleave256(lo1s, zero, e + 8); Interleave256(lo2s, zero, e + 16); Interleave256(lo3s, zero, e + 24);
    }

    /// <summary>Pixels per step of <see cref="PackRowLanes"/> on this CPU: 16 (512-bit), 8 (256-bit), or 1 (none: the transposing path).</summary>
    internal static int BestLanes => Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 16 : Vector256.IsHardwareAccelerated && Avx2.IsSupported ? 8 : 1;

    /// <summary>
    /// <see cref="PackRow(float*, float*, int, int, int, int, int, int, int, ulong*)"/> by lanes: each step of
    /// <paramref name="lanes"/> pixels (16 or 8) keeps two vectors of 32-bit halves, lo (channels 64k … 64k + 31) and hi
    /// (the next 32), one lane per pixel; each channel's compare of its row against τ selects lo | bit or lo (hi). Then
    /// the halves are interleaved into the pixels' words. The same bits as the transposing path; the remaining pixels
    /// (fewer than <paramref name="lanes"/>) take it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackRowLanes(float* x, float* tau, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst, int lanes)
    {
        int words = PackedLayout.WordsFor(cin);
        long plane = (long)h * w;
        float* row0 = x + ((long)n * cin * h + iy) * w;
        int steps = (ix1 - ix0) / lanes;
        ulong* spill = stackalloc ulong[8 * 16];
        for (int s = 0; s < steps;)
        {
            // Eight (four, two) steps at once where they fit: each channel's row is then read 8 vectors (8 cache lines at
            // 512 bits) in a row, not one line from each of 64 rows in turn, which the prefetchers follow far better.
            int block = steps - s >= 8 && lanes == 16 ? 8 : steps - s >= 4 ? 4 : steps - s >= 2 && lanes == 16 ? 2 : 1;
            Step(row0, plane, tau, cin, words, ix0 + s * lanes, lanes, block, rowDst, spill);
            s += block;
        }
        if (ix0 + steps * lanes == ix1) return;
        // The last pixels: one more step ending at ix1 (it overlaps the one before; those words are written again, the
        // same), or below a step's width two 8-pixel steps, or below 8 pixels the transposing path.
        int length = ix1 - ix0;
        if (length >= lanes) Step(row0, plane, tau, cin, words, ix1 - lanes, lanes, 1, rowDst, spill);
        else if (lanes == 16 && length >= 8)
        {
            Step(row0, plane, tau, cin, words, ix0, 8, 1, rowDst, spill);
            Step(row0, plane, tau, cin, words, ix1 - 8, 8, 1, rowDst, spill);
        }
        else PackRow(x, tau, cin, h, w, n, iy, ix0, ix1, rowDst, Avx512Vbmi.IsSupported);
    }

    /// <summary>Pixels [px, px + lanes·block) of the row whose channel 0 is at <paramref name="row0"/>, every word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(float* row0, long plane, float* tau, int cin, int words, int px, int lanes, int block, ulong* rowDst, ulong* spill)
    {
        ulong* dst = rowDst + (long)px * words;
        for (int wi = 0; wi < words; wi++)
        {
            int c0 = wi * 64, count = Math.Min(64, cin - c0);
            float* src = row0 + c0 * plane + px;
            ulong* d = words == 1 ? dst : spill;
            if (lanes == 16 && block == 8) LanesBlock512<CountEight>(src, plane, tau + c0, count, d);
            else if (lanes == 16 && block == 4) LanesBlock512<CountFour>(src, plane, tau + c0, count, d);
            else if (lanes == 16 && block == 2) LanesBlock512<CountTwo>(src, plane, tau + c0, count, d);
            else if (lanes == 16) LanesBlock512<CountOne>(src, plane, tau + c0, count, d);
            else if (block == 4) Lanes256x4(src, plane, tau + c0, count, d);
            else
                for (int b = 0; b < block; b++) Lanes256(src + b * 8, plane, tau + c0, count, d + b * 8);
            if (words > 1)
                for (int j = 0; j < block * lanes; j++) dst[(long)j * words + wi] = spill[j];
        }
    }

    /// <summary>
    /// The pixels' words of up to 64 channels (<paramref name="count"/>) for <typeparamref name="TSteps"/> steps of 16
    /// pixels at once, channel c's row at <paramref name="src"/> + c·<paramref name="plane"/>, into d[0..16·steps): one
    /// pair of accumulators (channels 0–31, 32–63) a step, so that each channel's threshold and bit are formed once for
    /// all the steps and its row is read that many vectors in a row. One body for the four widths; each instantiation's
    /// step count is a constant, so the branches on it and the accumulators it does not use compile away. Two steps a
    /// block (the 18 × 32 layers' rows, before two single steps): frames 0.992 and 1/1.006 (Zen 5, thirtieth session).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LanesBlock512<TSteps>(float* src, long plane, float* tau, int count, ulong* d) where TSteps : struct, IConstantCount
    {
        int steps = TSteps.Count;
        Vector512<uint> lo0 = default, lo1 = default, lo2 = default, lo3 = default, lo4 = default, lo5 = default, lo6 = default, lo7 = default;
        Vector512<uint> hi0 = default, hi1 = default, hi2 = default, hi3 = default, hi4 = default, hi5 = default, hi6 = default, hi7 = default;
        int low = Math.Min(32, count);
        for (int c = 0; c < low; c++)
        {
            float* row = src + c * plane;
            var t = Vector512.Create(PackedLayout.Threshold(tau[c]));
            var bit = Vector512.Create(1u << c);
            lo0 = SetWhereBelow(lo0, Vector512.Load(row), t, bit);
            if (steps > 1) lo1 = SetWhereBelow(lo1, Vector512.Load(row + 16), t, bit);
            if (steps > 2)
            {
                lo2 = SetWhereBelow(lo2, Vector512.Load(row + 32), t, bit);
                lo3 = SetWhereBelow(lo3, Vector512.Load(row + 48), t, bit);
            }
            if (steps > 4)
            {
                lo4 = SetWhereBelow(lo4, Vector512.Load(row + 64), t, bit);
                lo5 = SetWhereBelow(lo5, Vector512.Load(row + 80), t, bit);
                lo6 = SetWhereBelow(lo6, Vector512.Load(row + 96), t, bit);
                lo7 = SetWhereBelow(lo7, Vector512.Load(row + 112), t, bit);
            }
        }
        // Channels 32–63 into the other eight accumulators: the same body as above. One helper taking the eight by
        // reference was tried (thirty-first session): the JIT then spent PackRowLanes' inlining budget on it and left
        // the AVX2 paths' one-instruction vector helpers as calls, so the two loops stay written out.
        for (int c = 32; c < count; c++)
        {
            float* row = src + c * plane;
            var t = Vector512.Create(PackedLayout.Threshold(tau[c]));
            var bit = Vector512.Create(1u << (c - 32));
            hi0 = SetWhereBelow(hi0, Vector512.Load(row), t, bit);
            if (steps > 1) hi1 = SetWhereBelow(hi1, Vector512.Load(row + 16), t, bit);
            if (steps > 2)
            {
                hi2 = SetWhereBelow(hi2, Vector512.Load(row + 32), t, bit);
                hi3 = SetWhereBelow(hi3, Vector512.Load(row + 48), t, bit);
            }
            if (steps > 4)
            {
                hi4 = SetWhereBelow(hi4, Vector512.Load(row + 64), t, bit);
                hi5 = SetWhereBelow(hi5, Vector512.Load(row + 80), t, bit);
                hi6 = SetWhereBelow(hi6, Vector512.Load(row + 96), t, bit);
                hi7 = SetWhereBelow(hi7, Vector512.Load(row + 112), t, bit);
            }
        }
        Interleave512(lo0, hi0, d);
        if (steps > 1) Interleave512(lo1, hi1, d + 16);
        if (steps > 2)
        {
            Interleave512(lo2, hi2, d + 32);
            Interleave512(lo3, hi3, d + 48);
        }
        if (steps > 4)
        {
            Interleave512(lo4, hi4, d + 64);
            Interleave512(lo5, hi5, d + 80);
            Interleave512(lo6, hi6, d + 96);
            Interleave512(lo7, hi7, d + 112);
        }
    }

    /// <summary>
    /// <paramref name="acc"/> with <paramref name="bit"/> set in the lanes where x is not ≥ <paramref name="threshold"/>
    /// (<see cref="PackedLayout.Threshold"/> of τ: the lanes where x − τ is not ≥ 0, the sign bit of
    /// <see cref="PackedLayout"/>). Written as one compare into a mask register (vcmpngeps) and one OR under that mask,
    /// which the JIT emits for this shape of ConditionalSelect: two instructions a vector where the select the other
    /// way round took three (an OR and a blend; 0.93 of the time on rows in L1, Zen 4), and x − τ a third and a
    /// fourth (the subtraction and a zero register).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<uint> SetWhereBelow(Vector512<uint> acc, Vector512<float> x, Vector512<float> threshold, Vector512<uint> bit) =>
        Vector512.ConditionalSelect(Avx512F.CompareNotGreaterThanOrEqual(x, threshold).AsUInt32(), acc | bit, acc);

    /// <summary>Word j = lo[j] | hi[j] &lt;&lt; 32 for the 16 lanes, into d[0..16): dword 2j of the output from lo, 2j + 1 from hi.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Interleave512(Vector512<uint> lo, Vector512<uint> hi, ulong* d)
    {
        Alternate512(lo, hi, out var upper).AsUInt64().Store(d);
        upper.AsUInt64().Store(d + 8);
    }

    /// <summary>a[0], b[0], a[1], b[1], …: lanes 0–7 of each in the result, lanes 8–15 in <paramref name="upper"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<uint> Alternate512(Vector512<uint> a, Vector512<uint> b, out Vector512<uint> upper)
    {
        upper = Avx512F.PermuteVar16x32x2(a, Vector512.Create(8u, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), b);
        return Avx512F.PermuteVar16x32x2(a, Vector512.Create(0u, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), b);
    }

    /// <summary>
    /// 8 pixels' words of up to 64 channels (<paramref name="count"/>), channel c's row at <paramref name="src"/> +
    /// c·<paramref name="plane"/>, into d[0..8), for AVX2 (no mask registers): channels go from the highest down, and
    /// each doubles the accumulator and subtracts its compare mask (all ones, that is −1, where x − τ is not ≥ 0: x
    /// compared with <see cref="PackedLayout.Threshold"/>), so channel c ends at bit c after the doublings of the
    /// channels below it: compare, add and subtract a channel, where a select of acc | bit took five operations. AVX2 frames 0.914 of the select's (Zen 5 with
    /// AVX-512 off, 512×288, one thread, 300 rounds alternated in one process; docs/kernels.md, *AVX2 paths*).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes256(float* src, long plane, float* tau, int count, ulong* d)
    {
        var lo = Vector256<uint>.Zero;
        var hi = Vector256<uint>.Zero;
        for (int c = count - 1; c >= 32; c--) hi = Double(hi, Vector256.Load(src + c * plane), Threshold256(tau[c]));
        for (int c = Math.Min(32, count) - 1; c >= 0; c--) lo = Double(lo, Vector256.Load(src + c * plane), Threshold256(tau[c]));
        Interleave256(lo, hi, d);
    }

    /// <summary>acc·2, plus 1 in the lanes where x is not ≥ <paramref name="threshold"/> (<see cref="Threshold256"/> of τ: where x − τ is not ≥ 0, the sign bit of <see cref="PackedLayout"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Double(Vector256<uint> acc, Vector256<float> x, Vector256<float> threshold) =>
        acc + acc - Avx.CompareNotGreaterThanOrEqual(x, threshold).AsUInt32();

    /// <summary>τ's <see cref="PackedLayout.Threshold"/> in every lane: formed once per channel, not per vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Threshold256(float tau) => Vector256.Create(PackedLayout.Threshold(tau));

    /// <summary><see cref="Lanes256"/> for 32 pixels: four accumulators per half, each channel's four vectors read in a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes256x4(float* src, long plane, float* tau, int count, ulong* d)
    {
        Vector256<uint> lo0 = default, lo1 = default, lo2 = default, lo3 = default, hi0 = default, hi1 = default, hi2 = default, hi3 = default;
        for (int c = count - 1; c >= 32; c--)
        {
            float* row = src + c * plane;
            var t = Threshold256(tau[c]);
            hi0 = Double(hi0, Vector256.Load(row), t);
            hi1 = Double(hi1, Vector256.Load(row + 8), t);
            hi2 = Double(hi2, Vector256.Load(row + 16), t);
            hi3 = Double(hi3, Vector256.Load(row + 24), t);
        }
        for (int c = Math.Min(32, count) - 1; c >= 0; c--)
        {
            float* row = src + c * plane;
            var t = Threshold256(tau[c]);
            lo0 = Double(lo0, Vector256.Load(row), t);
            lo1 = Double(lo1, Vector256.Load(row + 8), t);
            lo2 = Double(lo2, Vector256.Load(row + 16), t);
            lo3 = Double(lo3, Vector256.Load(row + 24), t);
        }
        Interleave256(lo0, hi0, d);
        Interleave256(lo1, hi1, d + 8);
        Interleave256(lo2, hi2, d + 16);
        Interleave256(lo3, hi3, d + 24);
    }

    /// <summary>Word j = lo[j] | hi[j] &lt;&lt; 32 for the 8 lanes, into d[0..8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Interleave256(Vector256<uint> lo, Vector256<uint> hi, ulong* d)
    {
        Alternate256(lo, hi, out var upper).AsUInt64().Store(d);
        upper.AsUInt64().Store(d + 4);
    }

    /// <summary>a[0], b[0], a[1], b[1], …: lanes 0–3 of each in the result, lanes 4–7 in <paramref name="upper"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> Alternate256(Vector256<uint> a, Vector256<uint> b, out Vector256<uint> upper)
    {
        // Within each 128-bit half, unpack alternates lanes (0, 1 | 4, 5) and (2, 3 | 6, 7); the halves are then put in order.
        var low = Avx2.UnpackLow(a, b);
        var high = Avx2.UnpackHigh(a, b);
        upper = Avx2.Permute2x128(low, high, 0x31);
        return Avx2.Permute2x128(low, high, 0x20);
    }

    /// <param name="wideTranspose">Pass 2 by <see cref="TransposeChunks"/> (needs AVX-512 VBMI); false: scalar transposes (tests run both).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackRow(float* x, float* tau, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst, bool wideTranspose)
    {
        int words = PackedLayout.WordsFor(cin);
        long plane = (long)h * w;
        float* row0 = x + ((long)n * cin * h + iy) * w; // channel 0 of this row; channel c is at + c·plane
        int chunks = Vector256.IsHardwareAccelerated ? (ix1 - ix0) / 8 : 0;
        if (chunks > 0)
        {
            // Pass 1, one channel row at a time (a single sequential stream): masks[chunk·64 + c % 64] = sign bits
            // of 8 pixels. Pass 2, per chunk: 8 channels' masks are one ulong, an 8×8 bit matrix to transpose.
            const int maxChunks = 64;
            byte* masks = stackalloc byte[maxChunks * 64];
            var zero = Vector256<float>.Zero;
            for (int c0 = 0; c0 < chunks; c0 += maxChunks)
            {
                int n8 = Math.Min(maxChunks, chunks - c0);
                int px0 = ix0 + c0 * 8;
                for (int wi = 0; wi < words; wi++)
                {
                    int cWord = wi * 64, cCount = Math.Min(64, cin - cWord);
                    if (cCount < 64) new Span<byte>(masks, n8 * 64).Clear(); // padding channels stay 0
                    for (int ci = 0; ci < cCount; ci++)
                    {
                        float* src = row0 + (cWord + ci) * plane + px0;
                        var t = Vector256.Create(tau[cWord + ci]);
                        int ch = 0;
                        if (Vector512.IsHardwareAccelerated)
                        {
                            // Two chunks per compare: the low byte of the 16-bit mask is chunk ch, the high byte ch + 1.
                            var t512 = Vector512.Create(tau[cWord + ci]);
                            for (; ch + 2 <= n8; ch += 2)
                            {
                                uint negative = ~(uint)Vector512.GreaterThanOrEqual(Vector512.Load(src + ch * 8) - t512, Vector512<float>.Zero).ExtractMostSignificantBits();
                                masks[ch * 64 + ci] = (byte)negative;
                                masks[(ch + 1) * 64 + ci] = (byte)(negative >> 8);
                            }
                        }
                        for (; ch < n8; ch++)
                        {
                            uint positive = Vector256.GreaterThanOrEqual(Vector256.Load(src + ch * 8) - t, zero).ExtractMostSignificantBits();
                            masks[ch * 64 + ci] = (byte)~positive;
                        }
                    }
                    if (wideTranspose)
                    {
                        TransposeChunks(masks, n8, rowDst + (long)px0 * words + wi, words);
                        continue;
                    }
                    int groups = (cCount + 7) / 8;
                    for (int ch = 0; ch < n8; ch++)
                    {
                        ulong* dst = rowDst + (long)(px0 + ch * 8) * words + wi;
                        ulong w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0;
                        for (int g = 0; g < groups; g++)
                        {
                            ulong t = Transpose8x8(*(ulong*)(masks + ch * 64 + g * 8)); // byte j = pixel j, bit i = channel 8g + i
                            int shift = 8 * g;
                            w0 |= (t & 0xFF) << shift;
                            w1 |= ((t >> 8) & 0xFF) << shift;
                            w2 |= ((t >> 16) & 0xFF) << shift;
                            w3 |= ((t >> 24) & 0xFF) << shift;
                            w4 |= ((t >> 32) & 0xFF) << shift;
                            w5 |= ((t >> 40) & 0xFF) << shift;
                            w6 |= ((t >> 48) & 0xFF) << shift;
                            w7 |= (t >> 56) << shift;
                        }
                        dst[0] = w0;
                        dst[words] = w1;
                        dst[2 * words] = w2;
                        dst[3 * words] = w3;
                        dst[4 * words] = w4;
                        dst[5 * words] = w5;
                        dst[6 * words] = w6;
                        dst[7 * words] = w7;
                    }
                }
            }
        }
        for (int ix = ix0 + chunks * 8; ix < ix1; ix++)
            PackOne(row0 + ix, plane, tau, cin, words, rowDst + (long)ix * words);
    }

    /// <summary>
    /// Pass 2 with one chunk per zmm: the 64 mask bytes of a chunk (8 pixels × 64 channels) are 8 ulongs, ulong g
    /// holding channels 8g..8g+7 (byte i = channel 8g + i, bit j = pixel j). <see cref="Transpose8x8"/>'s delta swaps,
    /// lane by lane, make byte j of ulong g pixel j's bits of those channels; a byte permute (<c>vpermb</c>, AVX-512
    /// VBMI) then gathers byte j of every ulong into word j: the pixel's 64 channels, the same word the scalar pass
    /// assembles with 8 transposes and 64 shifts. Padding channels' masks are zero, so all 8 groups can be moved.
    /// </summary>
    private static void TransposeChunks(byte* masks, int chunks, ulong* dst, int words)
    {
        // Output byte 8j + g comes from input byte 8g + j.
        var gather = Vector512.Create((byte)0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58,
            3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61,
            6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63);
        var m28 = Vector512.Create(0x0F0F0F0F00000000UL);
        var m14 = Vector512.Create(0x3333000033330000UL);
        var m7 = Vector512.Create(0x5500550055005500UL);
        for (int ch = 0; ch < chunks; ch++)
        {
            var x = Vector512.Load((ulong*)(masks + ch * 64));
            var t = m28 & (x ^ (x << 28));
            x ^= t ^ (t >> 28);
            t = m14 & (x ^ (x << 14));
            x ^= t ^ (t >> 14);
            t = m7 & (x ^ (x << 7));
            x ^= t ^ (t >> 7);
            var pixels = Avx512Vbmi.PermuteVar64x8(x.AsByte(), gather).AsUInt64(); // word j = pixel j of the chunk
            ulong* d = dst + (long)ch * 8 * words;
            if (words == 1) pixels.Store(d);
            else for (int j = 0; j < 8; j++) d[j * words] = pixels.GetElement(j);
        }
    }

    /// <summary>Packs a whole NCHW tensor into [N, H, W, words] (tests, benchmarks, the reference path).</summary>
    public static ulong[] Pack(ReadOnlySpan<float> x, ReadOnlySpan<float> tau, int batch, int cin, int h, int w) =>
        Pack(x, tau, batch, cin, h, w, Avx512Vbmi.IsSupported);

    internal static ulong[] Pack(ReadOnlySpan<float> x, ReadOnlySpan<float> tau, int batch, int cin, int h, int w, bool wideTranspose)
    {
        if (wideTranspose && !Avx512Vbmi.IsSupported) throw new PlatformNotSupportedException("the wide transpose needs AVX-512 VBMI");
        if (x.Length != (long)batch * cin * h * w) throw new ArgumentException("x does not have N·C·H·W values.", nameof(x));
        if (tau.Length != cin) throw new ArgumentException("tau must have C values.", nameof(tau));
        int words = PackedLayout.WordsFor(cin);
        var packed = new ulong[(long)batch * h * w * words];
        fixed (float* px = x) fixed (float* pt = tau) fixed (ulong* pd = packed)
            for (int n = 0; n < batch; n++)
                for (int iy = 0; iy < h; iy++)
                    PackRow(px, pt, cin, h, w, n, iy, 0, w, pd + ((long)n * h + iy) * w * words, wideTranspose);
        return packed;
    }

    /// <summary>The obviously-correct packer: one pixel, one channel at a time. Also handles row tails.</summary>
    internal static void PackOne(float* pixel, long plane, float* tau, int cin, int words, ulong* dst)
    {
        for (int wi = 0; wi < words; wi++) dst[wi] = 0;
        for (int c = 0; c < cin; c++)
            dst[c >> 6] |= PackedLayout.SignBit(pixel[c * plane] - tau[c]) << (c & 63);
    }

    /// <summary>
    /// Transposes an 8×8 bit matrix stored row-major in a ulong (bit 8·r + c is row r, column c): three rounds of
    /// delta swaps across the diagonal (the chess-programming "flip about a1-h8"), 2×2, 4×4 then 8×8 blocks.
    /// </summary>
    internal static ulong Transpose8x8(ulong x)
    {
        ulong t = 0x0F0F0F0F00000000UL & (x ^ (x << 28));
        x ^= t ^ (t >> 28);
        t = 0x3333000033330000UL & (x ^ (x << 14));
        x ^= t ^ (t >> 14);
        t = 0x5500550055005500UL & (x ^ (x << 7));
        x ^= t ^ (t >> 7);
        return x;
    }
}
