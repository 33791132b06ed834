using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.Upsampling;

/// <summary>
/// One output row of Upsample2xConcat packed straight into its words, for a node that writes only bits (Y the empty
/// name) of at most 64 channels: each upsampled value is compared against τ in the register that computed it, so no
/// float row is written and read back. The specification is <see cref="Upsample2x.Plane"/> then
/// <see cref="ActivationPacker.PackOne"/> (the path every other case takes), and the bits are the same: the values are
/// computed by the same formula as <see cref="Upsample2x"/>'s vector path (its products and left-to-right sums), and
/// the compare is the packer's (x against <see cref="PackedLayout.Threshold"/>(τ): the bit of x − τ).
/// </summary>
/// <remarks>
/// The ×2 step computes sixteen pairs of outputs at once: lane k of "odd" is output 2j + 1 + 2k, of "even" 2j + 2 + 2k.
/// Each channel's compare ORs its bit into accumulators kept in that order (four vectors per τ: odd and even, channels
/// 0–31 and 32–63), and only the accumulators are put in pixel order at the end (two permutes per vector for the whole
/// block, where the plane path permutes every channel's values). The copied channels, already in pixel order, are
/// compared after that. Output 0 and the one or two outputs after the last full block take the scalar formula (for a
/// pair of rows, both rows at once and four channels a step: <see cref="EdgePair"/>).
/// Measured on decode0 and decode1 of the shipped model (Zen 4): docs/kernels.md, *the sixth session*. Rows 2i + 1 and
/// 2i + 2 read the same two input rows, so <see cref="PackRowPair"/> packs them together (each input vector loaded once,
/// twelve products for the pair's four sums instead of sixteen): 0.987 of a 512×288 frame (Zen 5, fifteenth session).
/// Where the CPU has 256-bit vectors only (AVX2), each block is eight pairs: the blocks are written once over the width
/// (<see cref="IFloatWidth{TV}"/> for the sums, <see cref="IBitLanes{TF, TU}"/> for the compares and the word order; the
/// AVX2 compare has no mask register, so a channel's bit is ANDed from the compare and ORed in). AVX2 frames at 512×288
/// 0.985 of the plane path's (Zen 4 with AVX-512 off in .NET, 600 rounds alternated in one process), 0.991 at 1920×1080;
/// written once instead of as two twins, 512-bit frames 0.995 of the twins' (800 rounds, nineteenth session).
/// </remarks>
internal static unsafe class Upsample2xPacker
{
    /// <summary>Whether this CPU runs the packer (512-bit vectors, or 256-bit ones with AVX2, that .NET accelerates).</summary>
    public static bool IsSupported => Wide || Vector256.IsHardwareAccelerated && Avx2.IsSupported;

    /// <summary>Blocks of sixteen pairs in 512-bit vectors; otherwise (AVX2) eight in 256-bit ones.</summary>
    private static bool Wide => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Input columns (pairs of outputs) per block: a vector's lanes.</summary>
    private static int Pairs => Wide ? 16 : 8;

    /// <summary>
    /// Packs output row <paramref name="oy"/> of the concatenation of <paramref name="total"/> ≤ 64 channels: channel c
    /// is the ×2 upsampling of the plane at <paramref name="planes"/>[c] (<paramref name="inWidth"/> columns, rows and
    /// columns sampled by <paramref name="ys"/> and <paramref name="xs"/>) for c &lt; <paramref name="upsampled"/>, and
    /// the output-sized plane at <paramref name="planes"/>[c] otherwise. Writes pixel p's word at
    /// <paramref name="dst"/>[p] against τ <paramref name="tau"/>, and at <paramref name="dstSecond"/>[p] against
    /// <paramref name="tauSecond"/> where that is not null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRow(float** planes, int upsampled, int total, int inWidth, BilinearAxis ys, BilinearAxis xs, int oy,
        float* tau, ulong* dst, float* tauSecond, ulong* dstSecond, SecondCells cells = default)
    {
        Validate(upsampled, total);
        int outWidth = xs.OutputLength;
        long lowRow = (long)ys.Low[oy] * inWidth, highRow = (long)ys.High[oy] * inWidth, copiedRow = (long)oy * outWidth;
        float wLo = ys.LowWeight[oy], wHi = ys.HighWeight[oy];
        if (outWidth == 0) return;
        Edge(planes, upsampled, total, lowRow, highRow, copiedRow, wLo, wHi, xs, 0, tau, dst, tauSecond, dstSecond);
        float* threshold = stackalloc float[total], thresholdSecond = stackalloc float[total];
        Thresholds(tau, tauSecond, total, threshold, thresholdSecond);
        if (tauSecond is null) thresholdSecond = null;
        int j = 0, pairs = Pairs;
        for (; j + pairs <= inWidth - 1 && 2 * j + 2 * pairs + 1 <= outWidth; j += pairs)
            AnyBlock(planes, upsampled, total, lowRow, highRow, copiedRow, wLo, wHi, j, threshold, dst, cells.For(thresholdSecond, j, pairs), dstSecond, inWidth);
        // The pairs left as one more block ending at the last full one: it writes some words again, the same.
        int last = Math.Min(inWidth - pairs - 1, (outWidth - 2 * pairs - 1) >> 1);
        if (last >= 0 && last + pairs > j)
        {
            AnyBlock(planes, upsampled, total, lowRow, highRow, copiedRow, wLo, wHi, last, threshold, dst, cells.For(thresholdSecond, last, pairs), dstSecond, inWidth);
            j = last + pairs;
        }
        for (int ox = Math.Max(1, 2 * j + 1); ox < outWidth; ox++)
            Edge(planes, upsampled, total, lowRow, highRow, copiedRow, wLo, wHi, xs, ox, tau, dst, tauSecond, dstSecond);
    }

    /// <summary>
    /// <see cref="PackRow"/> for output rows <paramref name="oy"/> and <paramref name="oy"/> + 1, their words at
    /// <paramref name="dst"/> and <paramref name="dst"/> + the output width (<paramref name="dstSecond"/> likewise). Where
    /// the two rows lie between the same two input rows (<see cref="IsInteriorPair"/>: rows 2i + 1 and 2i + 2, weights
    /// ¾, ¼ and ¼, ¾) each input vector is loaded once for both and the twelve distinct products of the four inputs
    /// with ¾·¾, ¾·¼ and ¼·¼ are formed once (the same products and sums as two calls of <see cref="PackRow"/>, so the
    /// same bits); otherwise the rows are packed one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRowPair(float** planes, int upsampled, int total, int inWidth, BilinearAxis ys, BilinearAxis xs, int oy,
        float* tau, ulong* dst, float* tauSecond, ulong* dstSecond, SecondCells cells = default)
    {
        int outWidth = xs.OutputLength;
        if (!IsInteriorPair(ys, oy))
        {
            PackRow(planes, upsampled, total, inWidth, ys, xs, oy, tau, dst, tauSecond, dstSecond, cells);
            PackRow(planes, upsampled, total, inWidth, ys, xs, oy + 1, tau, dst + outWidth, tauSecond, dstSecond is null ? null : dstSecond + outWidth, cells);
            return;
        }
        Validate(upsampled, total);
        if (outWidth == 0) return;
        long lowRow = (long)ys.Low[oy] * inWidth, highRow = (long)ys.High[oy] * inWidth, copiedRow = (long)oy * outWidth;
        float wLoA = ys.LowWeight[oy], wHiA = ys.HighWeight[oy], wLoB = ys.LowWeight[oy + 1], wHiB = ys.HighWeight[oy + 1];
        float* threshold = stackalloc float[total], thresholdSecond = stackalloc float[total];
        Thresholds(tau, tauSecond, total, threshold, thresholdSecond);
        if (tauSecond is null) thresholdSecond = null;
        int j = 0, pairs = Pairs;
        for (; j + pairs <= inWidth - 1 && 2 * j + 2 * pairs + 1 <= outWidth; j += pairs)
        {
            AnyPairBlock(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, j, threshold, dst, cells.For(thresholdSecond, j, pairs), dstSecond, inWidth);
            // Output 0 right after the first block, whose loads have just put its columns in L1 (before the blocks they
            // came from L2 or further: decode0's pair of rows over 32 channels is 64 KB).
            if (j == 0) EdgePair(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, wLoA, wHiA, wLoB, wHiB, xs, 0, tau, dst, tauSecond, dstSecond);
        }
        if (j == 0) EdgePair(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, wLoA, wHiA, wLoB, wHiB, xs, 0, tau, dst, tauSecond, dstSecond);
        int last = Math.Min(inWidth - pairs - 1, (outWidth - 2 * pairs - 1) >> 1);
        if (last >= 0 && last + pairs > j)
        {
            AnyPairBlock(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, last, threshold, dst, cells.For(thresholdSecond, last, pairs), dstSecond, inWidth);
            j = last + pairs;
        }
        for (int ox = Math.Max(1, 2 * j + 1); ox < outWidth; ox++)
            EdgePair(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, wLoA, wHiA, wLoB, wHiB, xs, ox, tau, dst, tauSecond, dstSecond);
    }

    /// <summary>
    /// Where the second τ's bits are needed along a row (or a pair of rows): the mask cells of the sparse 3×3 that reads
    /// them, one byte per mask column, nonzero where an active cell lies in a mask row whose outputs read the row(s)
    /// (the caller ORs those rows), and the mask's scale k. A block of output columns 2j + 1 … 2j + 2·pairs needs the
    /// second τ where an active cell's outputs read any of them: a cell among columns 2j … 2j + 2·pairs + 1 (one
    /// column on either side, the 3×3's reach). The default (no cells) needs it everywhere.
    /// </summary>
    public readonly struct SecondCells(byte* cells, int count, int scale)
    {
        /// <summary><paramref name="thresholdSecond"/> where the block at input column j needs the second τ, else null (the block leaves its words unwritten).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* For(float* thresholdSecond, int j, int pairs)
        {
            if (cells is null || thresholdSecond is null) return thresholdSecond;
            int from = 2 * j / scale, to = Math.Min(count - 1, (2 * j + 2 * pairs + 1) / scale);
            for (int c = from; c <= to; c++)
                if (cells[c] != 0) return thresholdSecond;
            return null;
        }
    }

    private static void Validate(int upsampled, int total)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("the packed ×2 row needs 512-bit vectors or AVX2");
        if (total is < 1 or > 64 || upsampled < 0 || upsampled > total)
            throw new ArgumentOutOfRangeException(nameof(total), $"{upsampled} upsampled of {total} channels: at most 64, one word a pixel");
    }

    /// <summary>
    /// Whether output rows <paramref name="oy"/> and <paramref name="oy"/> + 1 both read input rows i and i + 1, the
    /// first with weights ¾, ¼ and the second with ¼, ¾ (every pair 2i + 1, 2i + 2 of a doubled axis).
    /// </summary>
    public static bool IsInteriorPair(BilinearAxis ys, int oy) =>
        oy >= 0 && oy + 1 < ys.OutputLength
        && ys.Low[oy] == ys.Low[oy + 1] && ys.High[oy] == ys.High[oy + 1] && ys.High[oy] == ys.Low[oy] + 1
        && ys.LowWeight[oy] == 0.75f && ys.HighWeight[oy] == 0.25f && ys.LowWeight[oy + 1] == 0.25f && ys.HighWeight[oy + 1] == 0.75f;

    /// <summary>
    /// <see cref="PackedLayout.Threshold"/> of each channel's τ (and second τ where given), once a row: the blocks
    /// broadcast them from memory instead of testing every τ for infinities in every block.
    /// </summary>
    private static void Thresholds(float* tau, float* tauSecond, int total, float* threshold, float* thresholdSecond)
    {
        for (int c = 0; c < total; c++)
        {
            threshold[c] = PackedLayout.Threshold(tau[c]);
            if (tauSecond is not null) thresholdSecond[c] = PackedLayout.Threshold(tauSecond[c]);
        }
    }

    /// <summary><see cref="Block{TW, TB, TF, TU}"/> in 512-bit vectors, or on AVX2 in 256-bit ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AnyBlock(float** planes, int upsampled, int total, long lowRow, long highRow, long copiedRow, float wLo, float wHi, int j,
        float* threshold, ulong* dst, float* thresholdSecond, ulong* dstSecond, int inWidth)
    {
        if (Wide)
            Block<FloatWidth512, BitLanes512, Vector512<float>, Vector512<uint>>(planes, upsampled, total, lowRow, highRow, copiedRow, wLo, wHi, j,
                threshold, dst, thresholdSecond, dstSecond, inWidth);
        else
            Block<FloatWidth256, BitLanes256, Vector256<float>, Vector256<uint>>(planes, upsampled, total, lowRow, highRow, copiedRow, wLo, wHi, j,
                threshold, dst, thresholdSecond, dstSecond, inWidth);
    }

    /// <summary><see cref="PairBlock{TW, TB, TF, TU}"/> in 512-bit vectors, or on AVX2 in 256-bit ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AnyPairBlock(float** planes, int upsampled, int total, long lowRow, long highRow, long copiedRow, int outWidth, int j,
        float* threshold, ulong* dst, float* thresholdSecond, ulong* dstSecond, int inWidth)
    {
        if (Wide)
            PairBlock<FloatWidth512, BitLanes512, Vector512<float>, Vector512<uint>>(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, j,
                threshold, dst, thresholdSecond, dstSecond, inWidth);
        else
            PairBlock<FloatWidth256, BitLanes256, Vector256<float>, Vector256<uint>>(planes, upsampled, total, lowRow, highRow, copiedRow, outWidth, j,
                threshold, dst, thresholdSecond, dstSecond, inWidth);
    }

    /// <summary>
    /// <see cref="Block{TW, TB, TF, TU}"/> for an interior pair of rows: row A (weights ¾, ¼) at <paramref name="dst"/>,
    /// row B (¼, ¾) one output row further. Row A's odd output is a·(¾·¾) + b·(¼·¾) + c·(¾·¼) + d·(¼·¼), summed left to
    /// right as Block sums it; the four sums of the pair use the twelve products of a, b, c, d with ¾·¾, ¾·¼ and ¼·¼ (all
    /// exact). Channels 0–31 and 32–63 in loops of their own, so that only one half's accumulators are live in each.
    /// Compiled on its own (as <see cref="Block{TW, TB, TF, TU}"/>): inlined at PackRowPair's four sites (two widths,
    /// two calls) it spent the JIT's inlining budget there, which then left <see cref="IFloatWidth{TF}"/>'s and
    /// <see cref="IBitLanes{TF, TU}"/>'s one-instruction methods as calls with the vectors passed on the stack (3.7 % of a
    /// 512×288 frame in their bodies); on its own, 0.949 of a frame. Optimized at its first call, as the row methods are:
    /// tiered, its first version ran unoptimized for seconds of frames.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void PairBlock<TW, TB, TF, TU>(float** planes, int upsampled, int total, long lowRow, long highRow, long copiedRow, int outWidth, int j,
        float* threshold, ulong* dst, float* thresholdSecond, ulong* dstSecond, int inWidth)
        where TW : struct, IFloatWidth<TF> where TB : struct, IBitLanes<TF, TU> where TF : struct where TU : struct
    {
        bool second = thresholdSecond is not null;
        TU aOddLo = default, aEvenLo = default, bOddLo = default, bEvenLo = default;
        TU aOddLo2 = default, aEvenLo2 = default, bOddLo2 = default, bEvenLo2 = default;
        int low = Math.Min(32, upsampled);
        for (int c = 0; c < low; c++)
            PairChannel<TW, TB, TF, TU>(planes[c] + j, lowRow, highRow, inWidth, TB.Bit(c), threshold[c], second ? thresholdSecond[c] : 0f, second,
                ref aOddLo, ref aEvenLo, ref bOddLo, ref bEvenLo, ref aOddLo2, ref aEvenLo2, ref bOddLo2, ref bEvenLo2);
        TU aOddHi = default, aEvenHi = default, bOddHi = default, bEvenHi = default;
        TU aOddHi2 = default, aEvenHi2 = default, bOddHi2 = default, bEvenHi2 = default;
        for (int c = 32; c < upsampled; c++)
            PairChannel<TW, TB, TF, TU>(planes[c] + j, lowRow, highRow, inWidth, TB.Bit(c - 32), threshold[c], second ? thresholdSecond[c] : 0f, second,
                ref aOddHi, ref aEvenHi, ref bOddHi, ref bEvenHi, ref aOddHi2, ref aEvenHi2, ref bOddHi2, ref bEvenHi2);
        // The copied channels' rows of the next pair fetched as this pair's are read (the first τ's pass; the second reads
        // the same lines again, from L1): with the upsampled channels' input rows, a pair reads 2·C short rows, more
        // streams than the hardware prefetchers follow. Frames 0.996–0.997 (Zen 4), 0.990 on the AVX2 paths.
        long ahead = 2L * outWidth;
        Finish<TW, TB, TF, TU>(planes, upsampled, total, copiedRow, j, aOddLo, aEvenLo, aOddHi, aEvenHi, threshold, dst, ahead);
        Finish<TW, TB, TF, TU>(planes, upsampled, total, copiedRow + outWidth, j, bOddLo, bEvenLo, bOddHi, bEvenHi, threshold, dst + outWidth, ahead);
        if (!second) return;
        Finish<TW, TB, TF, TU>(planes, upsampled, total, copiedRow, j, aOddLo2, aEvenLo2, aOddHi2, aEvenHi2, thresholdSecond, dstSecond, 0);
        Finish<TW, TB, TF, TU>(planes, upsampled, total, copiedRow + outWidth, j, bOddLo2, bEvenLo2, bOddHi2, bEvenHi2, thresholdSecond, dstSecond + outWidth, 0);
    }

    /// <summary>One upsampled channel of <see cref="PairBlock{TW, TB, TF, TU}"/>: its four sums compared against one or two τ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairChannel<TW, TB, TF, TU>(float* plane, long lowRow, long highRow, int inWidth, TU bit, float threshold, float thresholdSecond, bool second,
        ref TU aOdd, ref TU aEven, ref TU bOdd, ref TU bEven, ref TU aOdd2, ref TU aEven2, ref TU bOdd2, ref TU bEven2)
        where TW : struct, IFloatWidth<TF> where TB : struct, IBitLanes<TF, TU> where TF : struct where TU : struct
    {
        float* lo = plane + lowRow;
        float* hi = plane + highRow;
        var a = TW.Load(lo);
        var b = TW.Load(lo + 1);
        var c = TW.Load(hi);
        var d = TW.Load(hi + 1);
        Sse.Prefetch0(hi + inWidth);
        var w9 = TW.Create(0.5625f);  // ¾·¾
        var w3 = TW.Create(0.1875f);  // ¾·¼
        var w1 = TW.Create(0.0625f);  // ¼·¼
        var a9 = TW.Multiply(a, w9); var a3 = TW.Multiply(a, w3); var a1 = TW.Multiply(a, w1);
        var b9 = TW.Multiply(b, w9); var b3 = TW.Multiply(b, w3); var b1 = TW.Multiply(b, w1);
        var c9 = TW.Multiply(c, w9); var c3 = TW.Multiply(c, w3); var c1 = TW.Multiply(c, w1);
        var d9 = TW.Multiply(d, w9); var d3 = TW.Multiply(d, w3); var d1 = TW.Multiply(d, w1);
        // Row A (rows ¾, ¼): odd = a·near + b·far + c·nearHigh + d·farHigh, even with near and far swapped; row B (¼, ¾)
        // alike; each sum left to right.
        var oddA = TW.Add(TW.Add(TW.Add(a9, b3), c3), d1);
        var evenA = TW.Add(TW.Add(TW.Add(a3, b9), c1), d3);
        var oddB = TW.Add(TW.Add(TW.Add(a3, b1), c9), d3);
        var evenB = TW.Add(TW.Add(TW.Add(a1, b3), c3), d9);
        var t = TW.Create(threshold);
        aOdd = TB.SetWhereBelow(aOdd, oddA, t, bit);
        aEven = TB.SetWhereBelow(aEven, evenA, t, bit);
        bOdd = TB.SetWhereBelow(bOdd, oddB, t, bit);
        bEven = TB.SetWhereBelow(bEven, evenB, t, bit);
        if (!second) return;
        var t2 = TW.Create(thresholdSecond);
        aOdd2 = TB.SetWhereBelow(aOdd2, oddA, t2, bit);
        aEven2 = TB.SetWhereBelow(aEven2, evenA, t2, bit);
        bOdd2 = TB.SetWhereBelow(bOdd2, oddB, t2, bit);
        bEven2 = TB.SetWhereBelow(bEven2, evenB, t2, bit);
    }

    /// <summary>
    /// Outputs 2j + 1 … 2j + 2·Lanes (input columns j … j + Lanes of both rows), every channel, against one or two sets
    /// of thresholds (<see cref="Thresholds"/>); input row High + 1 (<paramref name="inWidth"/> values after row High)
    /// prefetched at the same columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Block<TW, TB, TF, TU>(float** planes, int upsampled, int total, long lowRow, long highRow, long copiedRow, float wLo, float wHi, int j,
        float* threshold, ulong* dst, float* thresholdSecond, ulong* dstSecond, int inWidth)
        where TW : struct, IFloatWidth<TF> where TB : struct, IBitLanes<TF, TU> where TF : struct where TU : struct
    {
        // The weights as Upsample2x's vector step holds them: odd = ¾·lo[j] + ¼·lo[j+1] + …, even the other way round.
        var near = TW.Create(0.75f * wLo);
        var far = TW.Create(0.25f * wLo);
        var nearHigh = TW.Create(0.75f * wHi);
        var farHigh = TW.Create(0.25f * wHi);
        TU oddLo = default, evenLo = default, oddHi = default, evenHi = default;
        TU oddLo2 = default, evenLo2 = default, oddHi2 = default, evenHi2 = default;
        bool second = thresholdSecond is not null;
        for (int c = 0; c < upsampled; c++)
        {
            float* plane = planes[c];
            float* lo = plane + lowRow + j;
            float* hi = plane + highRow + j;
            var a = TW.Load(lo);
            var b = TW.Load(lo + 1);
            var cc = TW.Load(hi);
            var d = TW.Load(hi + 1);
            // The next input row's line at this block: a row reads 2·C short rows (1 KB at decode0), too many streams
            // for the hardware prefetchers to follow; 0.98 of a 512×288 frame (Zen 4, two runs of 500 rounds).
            Sse.Prefetch0(hi + inWidth);
            var odd = TW.Add(TW.Add(TW.Add(TW.Multiply(a, near), TW.Multiply(b, far)), TW.Multiply(cc, nearHigh)), TW.Multiply(d, farHigh));
            var even = TW.Add(TW.Add(TW.Add(TW.Multiply(a, far), TW.Multiply(b, near)), TW.Multiply(cc, farHigh)), TW.Multiply(d, nearHigh));
            var bit = TB.Bit(c & 31);
            var t = TW.Create(threshold[c]);
            if (c < 32) { oddLo = TB.SetWhereBelow(oddLo, odd, t, bit); evenLo = TB.SetWhereBelow(evenLo, even, t, bit); }
            else { oddHi = TB.SetWhereBelow(oddHi, odd, t, bit); evenHi = TB.SetWhereBelow(evenHi, even, t, bit); }
            if (!second) continue;
            var t2 = TW.Create(thresholdSecond[c]);
            if (c < 32) { oddLo2 = TB.SetWhereBelow(oddLo2, odd, t2, bit); evenLo2 = TB.SetWhereBelow(evenLo2, even, t2, bit); }
            else { oddHi2 = TB.SetWhereBelow(oddHi2, odd, t2, bit); evenHi2 = TB.SetWhereBelow(evenHi2, even, t2, bit); }
        }
        Finish<TW, TB, TF, TU>(planes, upsampled, total, copiedRow, j, oddLo, evenLo, oddHi, evenHi, threshold, dst, 0);
        if (second) Finish<TW, TB, TF, TU>(planes, upsampled, total, copiedRow, j, oddLo2, evenLo2, oddHi2, evenHi2, thresholdSecond, dstSecond, 0);
    }

    /// <summary>
    /// The block's accumulators in pixel order, the copied channels' bits added, the 2·Lanes words stored; where
    /// <paramref name="ahead"/> is not 0, each copied row's lines that many floats on are fetched into L1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TW, TB, TF, TU>(float** planes, int upsampled, int total, long copiedRow, int j,
        TU oddLo, TU evenLo, TU oddHi, TU evenHi, float* threshold, ulong* dst, long ahead)
        where TW : struct, IFloatWidth<TF> where TB : struct, IBitLanes<TF, TU> where TF : struct where TU : struct
    {
        // Lane 2k of the first half is odd[k] (output 2j + 1 + 2k), lane 2k + 1 is even[k]; the second half continues.
        int lanes = TW.Lanes;
        var lo0 = TB.Alternate(oddLo, evenLo, out var lo1);
        var hi0 = TB.Alternate(oddHi, evenHi, out var hi1);
        for (int c = upsampled; c < total; c++)
        {
            float* row = planes[c] + copiedRow + 2 * j + 1;
            if (ahead != 0) { Sse.Prefetch0(row + ahead); Sse.Prefetch0(row + ahead + lanes); }
            var bit = TB.Bit(c & 31);
            var t = TW.Create(threshold[c]);
            if (c < 32)
            {
                lo0 = TB.SetWhereBelow(lo0, TW.Load(row), t, bit);
                lo1 = TB.SetWhereBelow(lo1, TW.Load(row + lanes), t, bit);
            }
            else
            {
                hi0 = TB.SetWhereBelow(hi0, TW.Load(row), t, bit);
                hi1 = TB.SetWhereBelow(hi1, TW.Load(row + lanes), t, bit);
            }
        }
        TB.Interleave(lo0, hi0, dst + 2 * j + 1);
        TB.Interleave(lo1, hi1, dst + 2 * j + 1 + lanes);
    }

    /// <summary>
    /// Output <paramref name="ox"/> of both rows of an interior pair (<see cref="PackRowPair"/>: row A's weights
    /// <paramref name="wLoA"/>, <paramref name="wHiA"/>, row B's the others; words at <paramref name="dst"/>[ox] and
    /// [outWidth + ox]), every channel, by <see cref="Edge"/>'s formula: the column's taps once, and four channels at a
    /// time, their values gathered from the four planes (the plane pointers themselves are the gathers' 64-bit indices),
    /// each loaded once for both rows. The same products, left-to-right sums and compares as the scalar formula, lane by
    /// lane, so the same bits. Output 0 and the last of every pair of rows come here: 1.3 % of a 512×288 frame as two
    /// scalar rows; this and output 0 taken after the first block, 0.992 of the frame (Zen 4, twenty-first session).
    /// </summary>
    private static void EdgePair(float** planes, int upsampled, int total, long lowRow, long highRow, long copiedRow, int outWidth,
        float wLoA, float wHiA, float wLoB, float wHiB, BilinearAxis xs, int ox, float* tau, ulong* dst, float* tauSecond, ulong* dstSecond)
    {
        // The gathers are AVX2's, which every CPU that runs the packer has (IsSupported; Avx512F derives from Avx2).
        var ta = Upsample2x.ColumnTaps.Of(xs, ox, wLoA, wHiA);
        var tb = Upsample2x.ColumnTaps.Of(xs, ox, wLoB, wHiB);
        var words = new EdgeWords(tau, tauSecond);
        // The four taps' byte offsets from each plane's start, added to the plane pointers: the gathers' 64-bit indices.
        var lowLow = Vector256.Create((lowRow + ta.Low) * sizeof(float));
        var lowHigh = Vector256.Create((lowRow + ta.High) * sizeof(float));
        var highLow = Vector256.Create((highRow + ta.Low) * sizeof(float));
        var highHigh = Vector256.Create((highRow + ta.High) * sizeof(float));
        var lnA = Vector128.Create(ta.LowNear); var lfA = Vector128.Create(ta.LowFar); var hnA = Vector128.Create(ta.HighNear); var hfA = Vector128.Create(ta.HighFar);
        var lnB = Vector128.Create(tb.LowNear); var lfB = Vector128.Create(tb.LowFar); var hnB = Vector128.Create(tb.HighNear); var hfB = Vector128.Create(tb.HighFar);
        int c = 0;
        for (; c + 4 <= upsampled; c += 4)
        {
            var at = Vector256.Load((long*)planes + c);
            var a = Avx2.GatherVector128((float*)null, at + lowLow, 1);
            var b = Avx2.GatherVector128((float*)null, at + lowHigh, 1);
            var cc = Avx2.GatherVector128((float*)null, at + highLow, 1);
            var d = Avx2.GatherVector128((float*)null, at + highHigh, 1);
            // Scalar's products and left-to-right sums, lane by lane.
            words.Set(lnA * a + lfA * b + hnA * cc + hfA * d, lnB * a + lfB * b + hnB * cc + hfB * d, c);
        }
        for (; c < upsampled; c++)
            words.Set(Upsample2x.Scalar(planes[c] + lowRow, planes[c] + highRow, ta), Upsample2x.Scalar(planes[c] + lowRow, planes[c] + highRow, tb), c);
        var rowA = Vector256.Create((copiedRow + ox) * sizeof(float));
        var rowB = Vector256.Create((copiedRow + outWidth + ox) * sizeof(float));
        for (; c + 4 <= total; c += 4)
        {
            var at = Vector256.Load((long*)planes + c);
            words.Set(Avx2.GatherVector128((float*)null, at + rowA, 1), Avx2.GatherVector128((float*)null, at + rowB, 1), c);
        }
        for (; c < total; c++) words.Set(planes[c][copiedRow + ox], planes[c][copiedRow + outWidth + ox], c);
        dst[ox] = words.A;
        dst[outWidth + ox] = words.B;
        if (tauSecond is null) return;
        dstSecond[ox] = words.SecondA;
        dstSecond[outWidth + ox] = words.SecondB;
    }

    /// <summary>
    /// <see cref="EdgePair"/>'s two rows' words against τ (and the second τ where not null), a channel's bit set as
    /// <see cref="PackedLayout.SignBit"/>(v − τ): four channels from vectors, or one from scalars.
    /// </summary>
    private struct EdgeWords(float* tau, float* tauSecond)
    {
        public ulong A, B, SecondA, SecondB;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Set(Vector128<float> a, Vector128<float> b, int c)
        {
            var t = Vector128.Load(tau + c);
            A |= (ulong)Below(a, t) << c;
            B |= (ulong)Below(b, t) << c;
            if (tauSecond == null) return;
            var t2 = Vector128.Load(tauSecond + c);
            SecondA |= (ulong)Below(a, t2) << c;
            SecondB |= (ulong)Below(b, t2) << c;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Set(float a, float b, int c)
        {
            A |= PackedLayout.SignBit(a - tau[c]) << c;
            B |= PackedLayout.SignBit(b - tau[c]) << c;
            if (tauSecond == null) return;
            SecondA |= PackedLayout.SignBit(a - tauSecond[c]) << c;
            SecondB |= PackedLayout.SignBit(b - tauSecond[c]) << c;
        }
    }

    /// <summary>The four lanes' <see cref="PackedLayout.SignBit"/>(v − τ) as bits 0–3: set where v − τ is not ≥ 0 (NaN included).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Below(Vector128<float> v, Vector128<float> tau) =>
        ~Vector128.GreaterThanOrEqual(v - tau, Vector128<float>.Zero).ExtractMostSignificantBits() & 0xF;

    /// <summary>
    /// Output <paramref name="ox"/>'s words by the scalar formula (<see cref="Upsample2x.Scalar(float*, float*, in Upsample2x.ColumnTaps)"/>,
    /// the column's taps taken once for every channel), the upsampled channels then the copied ones: outputs 0 and the
    /// last one or two of the rows packed one at a time (a pair's rows take <see cref="EdgePair"/>). As the only edge path
    /// it was 1.3 % of a 512×288 frame once decode2's and decode3's narrow rows (128 and 64 columns, over 100 channels)
    /// came to the packer; with the taps once a column 0.996 of it.
    /// </summary>
    private static void Edge(float** planes, int upsampled, int total, long lowRow, long highRow, long copiedRow, float wLo, float wHi, BilinearAxis xs, int ox,
        float* tau, ulong* dst, float* tauSecond, ulong* dstSecond)
    {
        var taps = Upsample2x.ColumnTaps.Of(xs, ox, wLo, wHi);
        ulong word = 0, word2 = 0;
        bool second = tauSecond is not null;
        for (int c = 0; c < upsampled; c++)
        {
            float v = Upsample2x.Scalar(planes[c] + lowRow, planes[c] + highRow, taps);
            word |= PackedLayout.SignBit(v - tau[c]) << c;
            if (second) word2 |= PackedLayout.SignBit(v - tauSecond[c]) << c;
        }
        for (int c = upsampled; c < total; c++)
        {
            float v = planes[c][copiedRow + ox];
            word |= PackedLayout.SignBit(v - tau[c]) << c;
            if (second) word2 |= PackedLayout.SignBit(v - tauSecond[c]) << c;
        }
        dst[ox] = word;
        if (second) dstSecond[ox] = word2;
    }
}
