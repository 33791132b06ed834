using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// im2col on packed bits: copies the receptive field of each listed output pixel of one output row into the
/// blocked [block][k][pixel] layout of <see cref="IBinaryKernel"/>. A tap outside the image is written as zero
/// words, i.e. +1 for every channel; <see cref="ZeroPaddingCorrection"/> later removes exactly what those taps
/// added. Pixels past the list end (to fill the last block) are zero and their counts are discarded.
/// </summary>
/// <remarks>
/// The pixels are a list of output columns: consecutive for the dense conv, the active ones for the sparse conv
/// (so a row's active pixels share one popcount pass however they are scattered). Taps are the outer loop so each
/// tap reads one input row left to right. With stride 1, one word per pixel (Cin ≤ 64) and consecutive columns,
/// a block of one tap is one contiguous copy. With Cin ≤ 32 two taps share a word, with Cin ≤ 16 four, and with
/// 32 &lt; Cin &lt; 64 the taps lie end to end, Cin bits each, a tap's high channels spilling into the next word (see
/// <see cref="BinaryConv2dParams.TapBits"/>). A word's first contribution is stored (the tap starting at its bit 0, or
/// the spill of the tap before), the others OR-ed in, shifted to their bits. On 512-bit hosts the 3×3 layers at
/// dilation 1 whose taps fall into the words in a fixed pattern (one word a pixel at stride 1 or 2, two or four words
/// at stride 1) go to <see cref="ComposedPatches"/> instead (each word composed in a register from the taps' loads),
/// which writes the same words; this class remains their specification in the tests (one-pixel and 4-pixel blocks)
/// and the path of every other layer and CPU.
/// </remarks>
internal static unsafe class PatchGatherer
{
    /// <param name="packed">Packed activations of image n: [H, W, words].</param>
    /// <param name="y">Output row.</param>
    /// <param name="xs">Output columns, ascending.</param>
    /// <param name="count">Number of columns.</param>
    /// <param name="pixelBlock">The kernel's pixels per block.</param>
    /// <param name="dst">Room for ⌈count / pixelBlock⌉ · pixelBlock · patchWords words.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gather(BinaryConv2dParams p, ulong* packed, int y, int* xs, int count, int pixelBlock, ulong* dst)
    {
        if (ComposedPatches.TryGather(p, packed, y, xs, count, pixelBlock, dst)) return;
        int words = p.Words, patchWords = p.KernelWords, sw = p.StrideWidth;
        if (words == 1 && sw == 1 && count > 0 && xs[count - 1] - xs[0] != count - 1
            && (pixelBlock % 8 == 0 && Vector512.IsHardwareAccelerated || pixelBlock == 4 && Vector256.IsHardwareAccelerated))
        {
            GatherRuns(p, packed, y, xs, count, pixelBlock, dst);
            return;
        }
        int blocks = (count + pixelBlock - 1) / pixelBlock;
        long blockStride = (long)patchWords * pixelBlock;
        // A dense row of one-word pixels at stride 1: each tap's blocks that read inside the row in one loop of vector
        // copies, without the per-block checks below (with the AVX2 kernel's 4-pixel blocks, most of a block's time):
        // AVX2 frames 0.985 and 1/1.016, AVX-512 frames 0.995 (Zen 4, real frames, 500–1000 rounds); then with a loop
        // per kind of tap word and the block loop jumping past them, AVX2 frames a further 0.979 and 1/1.022, AVX-512
        // 0.997.
        bool consecutive = words == 1 && sw == 1 && pixelBlock % 4 == 0 && Vector256.IsHardwareAccelerated && count > 0 && xs[count - 1] - xs[0] == count - 1;
        for (int ky = 0; ky < p.KernelHeight; ky++)
        {
            int iy = y * p.StrideHeight - p.PadTop + ky * p.DilationHeight;
            bool rowInside = iy >= 0 && iy < p.InHeight;
            ulong* row = packed + (long)iy * p.InWidth * words;
            for (int kx = 0; kx < p.KernelWidth; kx++)
            {
                int tap = ky * p.KernelWidth + kx;
                // A shared word's later taps go to its higher bits, and a bit-tight tap's high channels to bit 0 of the next word.
                var (k0, shift, spill) = p.TapWord(tap);
                int ixOffset = kx * p.DilationWidth - p.PadLeft; // ix = x·sW + ixOffset
                int insideFrom = 0, insideTo = 0;
                if (consecutive && rowInside)
                    (insideFrom, insideTo) = InsideBlocks(row, p.InWidth, xs[0] + ixOffset, count, dst + (long)k0 * pixelBlock, blockStride, shift, spill, pixelBlock);
                for (int b = 0; b < blocks; b++)
                {
                    if (b == insideFrom && insideTo > insideFrom)
                    {
                        b = insideTo - 1; // past the blocks InsideBlocks wrote
                        continue;
                    }
                    ulong* d = dst + b * blockStride + (long)k0 * pixelBlock;
                    int i0 = b * pixelBlock;
                    if (!rowInside)
                    {
                        // The kernel row lies in the padding: every lane's words are zero (a shared word's later taps OR in nothing).
                        if (shift == 0) new Span<ulong>(d, words * pixelBlock).Clear();
                        if (spill) new Span<ulong>(d + pixelBlock, pixelBlock).Clear();
                        continue;
                    }
                    if (i0 + pixelBlock <= count && xs[i0] * sw + ixOffset >= 0 && xs[i0 + pixelBlock - 1] * sw + ixOffset < p.InWidth)
                    {
                        // Every lane reads inside the row (the list ascends): no per-lane checks. Consecutive columns
                        // (a dense row) by vector moves where the layout allows; others (other layouts, a sparse row's
                        // scattered active cells where GatherRuns does not take them) lane by lane.
                        int* x = xs + i0;
                        if (x[pixelBlock - 1] - x[0] == pixelBlock - 1 && VectorBlock(row + (long)(x[0] * sw + ixOffset) * words, d, words, sw, shift, spill, pixelBlock)) continue;
                        if (shift != 0)
                            for (int lane = 0; lane < pixelBlock; lane++)
                            {
                                ulong a = row[x[lane] * sw + ixOffset];
                                d[lane] |= a << shift;
                                if (spill) d[pixelBlock + lane] = a >> (64 - shift);
                            }
                        else
                            for (int lane = 0; lane < pixelBlock; lane++)
                            {
                                ulong* src = row + (long)(x[lane] * sw + ixOffset) * words;
                                for (int wi = 0; wi < words; wi++) d[wi * pixelBlock + lane] = src[wi];
                            }
                        continue;
                    }
                    if (EdgeBlock(row, p.InWidth, xs + i0, Math.Min(pixelBlock, count - i0), ixOffset, d, words, sw, shift, spill, pixelBlock)) continue;
                    for (int lane = 0; lane < pixelBlock; lane++)
                    {
                        int i = i0 + lane;
                        int ix = i < count ? xs[i] * sw + ixOffset : -1;
                        bool inside = rowInside && ix >= 0 && ix < p.InWidth;
                        ulong* src = row + (long)ix * words;
                        if (shift != 0)
                        {
                            // A later tap of a shared word (and where it spills, the first of the next word).
                            ulong a = inside ? src[0] : 0UL;
                            d[lane] |= a << shift;
                            if (spill) d[pixelBlock + lane] = a >> (64 - shift);
                        }
                        else for (int wi = 0; wi < words; wi++) d[wi * pixelBlock + lane] = inside ? src[wi] : 0UL;
                    }
                }
            }
        }
    }

    /// <summary>
    /// The blocks of a dense row's tap whose every lane reads inside the input row (one word a pixel, stride 1; lane i
    /// of the list reads column <paramref name="first"/> + i), copied as <see cref="VectorBlock"/> copies one, tap word
    /// at <paramref name="tapDst"/>: returns the range [from, to) of blocks written, empty where none is whole.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int From, int To) InsideBlocks(ulong* row, int inWidth, int first, int count, ulong* tapDst, long blockStride, int shift, bool spill, int pixelBlock)
    {
        // Block b's lanes read columns first + b·P … first + b·P + P − 1: inside where first + b·P ≥ 0 and
        // first + b·P + P ≤ inWidth, and every lane in the list where b·P + P ≤ count.
        int from = first >= 0 ? 0 : (pixelBlock - 1 - first) / pixelBlock;
        int room = inWidth - first - pixelBlock;
        int to = room < 0 ? 0 : Math.Min(count / pixelBlock, room / pixelBlock + 1);
        if (to <= from) return (0, 0);
        ulong* src = row + first + (long)from * pixelBlock, tap = tapDst + from * blockStride;
        int back = 64 - shift, n = to - from;
        // One loop per kind of tap word (stored; OR-ed in, shifted; OR-ed in with its high channels spilling into the next
        // word; a spilling tap's shift is never 0), so that no test is left inside the loops (the JIT does not take
        // them out), and with 4-pixel blocks (the AVX2 kernel's) one vector a block without an inner loop.
        if (Vector512.IsHardwareAccelerated && pixelBlock % 8 == 0)
        {
            if (spill)
                for (int i = 0; i < n; i++, src += pixelBlock, tap += blockStride)
                    for (int l = 0; l < pixelBlock; l += 8)
                    {
                        var v = Vector512.Load(src + l);
                        (v >> back).Store(tap + pixelBlock + l);
                        ((v << shift) | Vector512.Load(tap + l)).Store(tap + l);
                    }
            else if (shift != 0)
                for (int i = 0; i < n; i++, src += pixelBlock, tap += blockStride)
                    for (int l = 0; l < pixelBlock; l += 8) ((Vector512.Load(src + l) << shift) | Vector512.Load(tap + l)).Store(tap + l);
            else
                for (int i = 0; i < n; i++, src += pixelBlock, tap += blockStride)
                    for (int l = 0; l < pixelBlock; l += 8) Vector512.Load(src + l).Store(tap + l);
        }
        else if (pixelBlock == 4 && spill)
            for (int i = 0; i < n; i++, src += 4, tap += blockStride)
            {
                var v = Vector256.Load(src);
                (v >> back).Store(tap + 4);
                ((v << shift) | Vector256.Load(tap)).Store(tap);
            }
        else if (pixelBlock == 4 && shift != 0)
            for (int i = 0; i < n; i++, src += 4, tap += blockStride) ((Vector256.Load(src) << shift) | Vector256.Load(tap)).Store(tap);
        else if (pixelBlock == 4)
            for (int i = 0; i < n; i++, src += 4, tap += blockStride) Vector256.Load(src).Store(tap);
        else // blocks of 8 or more without 512-bit vectors: no kernel of this host has them, the tests do
            for (int i = 0; i < n; i++, src += pixelBlock, tap += blockStride)
                for (int l = 0; l < pixelBlock; l += 4)
                    Place(Vector256.Load(src + l), tap + l, tap + pixelBlock + l, shift, spill);
        return (from, to);
    }

    /// <summary>
    /// <see cref="Gather"/> of a list with gaps (a sparse row's active cells) for one word per pixel and stride 1, with
    /// 512-bit vectors, or 256-bit ones for the AVX2 kernel's 4-pixel blocks (AVX2 frames 0.993 and 1/1.008 against the
    /// block-by-block path, twenty-third session), by runs: the list is cut once into runs of consecutive columns that
    /// stay in one block (one per active cell and block), and each tap copies each run as one stretch of words, its
    /// lanes outside the row zero.
    /// The block-by-block path copies such a block lane by lane: on decode0's 35-channel rows at half the cells active,
    /// 0.45–0.49 ms per frame of rows here against 1.39–1.69 (one thread, interleaved). A list without gaps (a dense
    /// row) stays on the block copies, faster there (0.57 against 0.70 ms). A run's whole blocks (two or more where
    /// active cells of 16 columns adjoin) go through one loop a tap (<see cref="SegmentBlocks"/>) instead of one run
    /// each: decode0's first glue 1.20 → 1.15–1.19 ms alone, frames 0.997 and 1/1.002 (Zen 5, twenty-seventh session).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherRuns(BinaryConv2dParams p, ulong* packed, int y, int* xs, int count, int pixelBlock, ulong* dst)
    {
        int patchWords = p.KernelWords, inWidth = p.InWidth;
        int blocks = (count + pixelBlock - 1) / pixelBlock;
        long blockStride = (long)patchWords * pixelBlock;
        // Runs, three ints each: the first lane's offset in a tap's words (block · blockStride + lane), its column,
        // and its length. A run ends where the columns jump or a block does, except that whole blocks of one run of
        // columns stay one run (a segment: length a multiple of pixelBlock, from lane 0 of its first block), which each
        // tap then copies block after block in one loop. (Offsets precomputed: a division per run and tap had cost
        // more than the copy.)
        int[]? rented = count > 512 ? System.Buffers.ArrayPool<int>.Shared.Rent(3 * count) : null;
        Span<int> runs = rented ?? stackalloc int[3 * Math.Max(count, 1)];
        int runCount = 0;
        for (int b = 0, i = 0; b < blocks; b++, i += pixelBlock)
        {
            // The columns ascend without repeats, so a block whose last column is its first plus its lanes − 1 is one run
            // (decode0's and decode1's active cells are runs of 16 and 8 columns): one compare a block. Lane by lane,
            // the sparse rows' runs had taken 39 % of this method on decode0's first glue (frames 0.994, Zen 5).
            int lanes = Math.Min(pixelBlock, count - i), offset = (int)(b * blockStride), start = 0;
            if (xs[i + lanes - 1] - xs[i] == lanes - 1)
            {
                // A whole block that goes on from the segment before it (its last block is the one before this).
                if (lanes == pixelBlock && runCount > 0 && runs[3 * runCount - 1] % pixelBlock == 0
                    && runs[3 * runCount - 2] + runs[3 * runCount - 1] == xs[i]
                    && runs[3 * runCount - 3] + (long)(runs[3 * runCount - 1] / pixelBlock) * blockStride == offset)
                {
                    runs[3 * runCount - 1] += pixelBlock;
                    continue;
                }
            }
            else
                for (int lane = 1; lane < lanes; lane++)
                    if (xs[i + lane] != xs[i + lane - 1] + 1)
                    {
                        runs[3 * runCount] = offset + start;
                        runs[3 * runCount + 1] = xs[i + start];
                        runs[3 * runCount++ + 2] = lane - start;
                        start = lane;
                    }
            runs[3 * runCount] = offset + start;
            runs[3 * runCount + 1] = xs[i + start];
            runs[3 * runCount++ + 2] = lanes - start;
        }
        int tail = blocks * pixelBlock - count; // lanes past the list in the last block: zero
        for (int ky = 0; ky < p.KernelHeight; ky++)
        {
            int iy = y * p.StrideHeight - p.PadTop + ky * p.DilationHeight;
            bool rowInside = iy >= 0 && iy < p.InHeight;
            ulong* row = packed + (long)iy * inWidth;
            for (int kx = 0; kx < p.KernelWidth; kx++)
            {
                int tap = ky * p.KernelWidth + kx;
                var (k0, shift, spill) = p.TapWord(tap);
                int ixOffset = kx * p.DilationWidth - p.PadLeft;
                ulong* tapDst = dst + (long)k0 * pixelBlock;
                if (!rowInside)
                {
                    // The kernel row lies in the padding: every lane's word is zero (a shared word's later taps OR in nothing).
                    for (int b = 0; b < blocks; b++)
                    {
                        if (shift == 0) new Span<ulong>(tapDst + b * blockStride, pixelBlock).Clear();
                        if (spill) new Span<ulong>(tapDst + b * blockStride + pixelBlock, pixelBlock).Clear();
                    }
                    continue;
                }
                for (int r = 0; r < runCount; r++)
                {
                    ulong* d = tapDst + runs[3 * r];
                    int ix = runs[3 * r + 1] + ixOffset, length = runs[3 * r + 2];
                    if (length < pixelBlock)
                    {
                        RunLanes(d, row, ix, length, inWidth, shift, spill, pixelBlock);
                        continue;
                    }
                    // A segment: its blocks whose lanes all read inside the row, [inFrom, inTo), in one loop; the others
                    // (at the row's edges) lane by lane.
                    int segmentBlocks = length / pixelBlock;
                    int inFrom = ix >= 0 ? 0 : Math.Min(segmentBlocks, (-ix + pixelBlock - 1) / pixelBlock);
                    int room = inWidth - ix - pixelBlock; // the last inside block starts at most this far from ix
                    int inTo = room < 0 ? inFrom : Math.Clamp(room / pixelBlock + 1, inFrom, segmentBlocks);
                    for (int k = 0; k < inFrom; k++) RunLanes(d + k * blockStride, row, ix + k * pixelBlock, pixelBlock, inWidth, shift, spill, pixelBlock);
                    SegmentBlocks(d + inFrom * blockStride, row + ix + inFrom * pixelBlock, inTo - inFrom, blockStride, shift, spill, pixelBlock);
                    for (int k = inTo; k < segmentBlocks; k++) RunLanes(d + k * blockStride, row, ix + k * pixelBlock, pixelBlock, inWidth, shift, spill, pixelBlock);
                }
                if (tail > 0 && shift == 0) new Span<ulong>(tapDst + (blocks - 1) * blockStride + (pixelBlock - tail), tail).Clear();
                if (tail > 0 && spill) new Span<ulong>(tapDst + (blocks - 1) * blockStride + pixelBlock + (pixelBlock - tail), tail).Clear();
            }
        }
        if (rented is not null) System.Buffers.ArrayPool<int>.Shared.Return(rented);
    }

    /// <summary>
    /// One tap of <see cref="GatherRuns"/>'s segment blocks that all read inside the row: block k's lanes are the words
    /// at <paramref name="src"/> + k·pixelBlock, its tap word at <paramref name="d"/> + k·<paramref name="blockStride"/>
    /// (the next word pixelBlock further on); stored (shift 0) or OR-ed in shifted, a spilling tap's high channels
    /// stored into the next word. One 512-bit loop for the AVX-512 kernels' blocks of 8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SegmentBlocks(ulong* d, ulong* src, int count, long blockStride, int shift, bool spill, int pixelBlock)
    {
        int back = 64 - shift;
        if (pixelBlock == 8 && Vector512.IsHardwareAccelerated)
        {
            if (shift == 0)
                for (int k = 0; k < count; k++, src += 8, d += blockStride) Vector512.Load(src).Store(d);
            else if (!spill)
                for (int k = 0; k < count; k++, src += 8, d += blockStride) ((Vector512.Load(src) << shift) | Vector512.Load(d)).Store(d);
            else
                for (int k = 0; k < count; k++, src += 8, d += blockStride)
                {
                    var v = Vector512.Load(src);
                    ((v << shift) | Vector512.Load(d)).Store(d);
                    (v >> back).Store(d + 8);
                }
            return;
        }
        // Other blocks (the AVX2 kernel's 4 pixels: not measured as segments) one by one, as the runs of one block.
        for (int k = 0; k < count; k++, src += pixelBlock, d += blockStride)
            RunLanes(d, src, 0, pixelBlock, pixelBlock, shift, spill, pixelBlock);
    }

    /// <summary>
    /// One tap of one run of <see cref="GatherRuns"/>: lanes [0, <paramref name="length"/>) at <paramref name="d"/> read
    /// columns <paramref name="ix"/> on of <paramref name="row"/>; those outside [0, <paramref name="inWidth"/>) are padding
    /// (zero words). The next word's lanes are <paramref name="next"/> further on.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunLanes(ulong* d, ulong* row, int ix, int length, int inWidth, int shift, bool spill, int next)
    {
        int back = 64 - shift; // a spilling tap's high channels: the word shifted right by this, into the next word
        // Lanes [from, to) read inside the row; the others are padding (zero words).
        int from = Math.Clamp(-ix, 0, length), to = Math.Clamp(inWidth - ix, from, length);
        ulong* src = row + ix;
        if (shift == 0)
        {
            for (int l = 0; l < from; l++) d[l] = 0;
            int l8 = from;
            if (Vector512.IsHardwareAccelerated)
                for (; l8 + 8 <= to; l8 += 8) Vector512.Load(src + l8).Store(d + l8);
            for (; l8 + 4 <= to; l8 += 4) Vector256.Load(src + l8).Store(d + l8);
            for (; l8 < to; l8++) d[l8] = src[l8];
            for (int l = to; l < length; l++) d[l] = 0;
        }
        else if (!spill)
        {
            int l8 = from;
            if (Vector512.IsHardwareAccelerated)
                for (; l8 + 8 <= to; l8 += 8) ((Vector512.Load(src + l8) << shift) | Vector512.Load(d + l8)).Store(d + l8);
            for (; l8 + 4 <= to; l8 += 4) ((Vector256.Load(src + l8) << shift) | Vector256.Load(d + l8)).Store(d + l8);
            for (; l8 < to; l8++) d[l8] |= src[l8] << shift;
        }
        else
        {
            // A bit-tight tap across two words: its low channels OR-ed into this one, its high ones stored as the next
            // word's first contribution (zero in the padding lanes).
            ulong* e = d + next;
            for (int l = 0; l < from; l++) e[l] = 0;
            int l8 = from;
            if (Vector512.IsHardwareAccelerated)
                for (; l8 + 8 <= to; l8 += 8)
                {
                    var v = Vector512.Load(src + l8);
                    ((v << shift) | Vector512.Load(d + l8)).Store(d + l8);
                    (v >> back).Store(e + l8);
                }
            for (; l8 + 4 <= to; l8 += 4)
            {
                var v = Vector256.Load(src + l8);
                ((v << shift) | Vector256.Load(d + l8)).Store(d + l8);
                (v >> back).Store(e + l8);
            }
            for (; l8 < to; l8++)
            {
                d[l8] |= src[l8] << shift;
                e[l8] = src[l8] >> back;
            }
            for (int l = to; l < length; l++) e[l] = 0;
        }
    }

    /// <summary>
    /// A block of consecutive columns at the row's edge or the list's end (some lanes read outside the input row, or
    /// lie past the list). For stride 1 and one word per pixel by 512-bit masked loads: a lane outside reads nothing
    /// (the masked-off lanes of <c>vmovdqu64 {k}</c> neither load nor fault, so the address may lie before or past
    /// the row) and is a zero word, as the lane-by-lane path writes it; the lane-by-lane path took them one scalar lane
    /// at a time with its checks, and this made a 512×288 frame 0.988 as long (real frames, `ab-frames.cs`, 400
    /// rounds, Zen 4). Other strides and words a pixel: the columns the block reads copied into a zero-padded row of
    /// its own, which <see cref="VectorBlock"/> then takes as a block inside a row (the 128- to 1024-channel layers'
    /// rows of 32 and 64 pixels are edge blocks from end to end, and went word by word: <see cref="ThreadScratch.EdgeRow"/>;
    /// frames 0.988 and 1/1.010, Zen 4, twenty-fourth session). False (nothing written) where VectorBlock has no form
    /// for the shape, or the lanes' columns are not consecutive.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool EdgeBlock(ulong* row, int inWidth, int* x, int lanes, int ixOffset, ulong* d, int words, int sw, int shift, bool spill, int pixelBlock)
    {
        if (lanes <= 0 || x[lanes - 1] - x[0] != lanes - 1) return false;
        if (sw == 1 && words == 1 && pixelBlock % 8 == 0 && Avx512F.IsSupported)
        {
            int ix0 = x[0] + ixOffset; // lane l reads column ix0 + l
            var laneIndex = Vector512.Create(0L, 1, 2, 3, 4, 5, 6, 7);
            for (int l = 0; l < pixelBlock; l += 8)
            {
                // Lane l + j is read where 0 ≤ ix0 + l + j < inWidth and l + j < lanes.
                var column = laneIndex + Vector512.Create((long)ix0 + l);
                var inside = Vector512.GreaterThanOrEqual(column, Vector512<long>.Zero)
                    & Vector512.LessThan(column, Vector512.Create((long)inWidth))
                    & Vector512.LessThan(laneIndex, Vector512.Create((long)(lanes - l)));
                Place(Avx512F.MaskLoad(row + ix0 + l, inside.AsUInt64(), Vector512<ulong>.Zero), d + l, d + pixelBlock + l, shift, spill);
            }
            return true;
        }
        // (One word a pixel at stride 1 on AVX2 stays lane by lane: its 4-lane blocks gained nothing from masked loads.)
        if (!Vector256.IsHardwareAccelerated || sw == 1 && words == 1) return false;
        // Lane l reads column first + l·sW: the block spans (P − 1)·sW + 1 columns, of which those up to the last lane's
        // that lie inside the row are copied and the rest are zero words.
        int first = x[0] * sw + ixOffset, span = (pixelBlock - 1) * sw + 1;
        int from = Math.Clamp(-first, 0, span), to = Math.Clamp(Math.Min(inWidth - first, (lanes - 1) * sw + 1), from, span);
        ulong* padded = ThreadScratch.EdgeRow(span * words);
        new Span<ulong>(padded, from * words).Clear();
        new ReadOnlySpan<ulong>(row + (long)(first + from) * words, (to - from) * words).CopyTo(new Span<ulong>(padded + (long)from * words, (to - from) * words));
        new Span<ulong>(padded + (long)to * words, (span - to) * words).Clear();
        return VectorBlock(padded, d, words, sw, shift, spill, pixelBlock);
    }

    /// <summary>
    /// A tap's words for a vector of lanes into the patch at <paramref name="d"/>: stored (the word's first tap), or
    /// shifted to the tap's bits and OR-ed in; a spilling tap's high channels stored at <paramref name="next"/> (the next
    /// word's lanes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Place(Vector512<ulong> v, ulong* d, ulong* next, int shift, bool spill)
    {
        if (spill) (v >> (64 - shift)).Store(next);
        if (shift != 0) v = (v << shift) | Vector512.Load(d);
        v.Store(d);
    }

    /// <summary><see cref="Place(Vector512{ulong}, ulong*, ulong*, int, bool)"/> 256 bits wide.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Place(Vector256<ulong> v, ulong* d, ulong* next, int shift, bool spill)
    {
        if (spill) (v >> (64 - shift)).Store(next);
        if (shift != 0) v = (v << shift) | Vector256.Load(d);
        v.Store(d);
    }

    /// <summary>Even/odd word indices of 16 (two vectors of 8): the deinterleave of two words per pixel.</summary>
    internal static readonly Vector512<ulong> EvenWords = Vector512.Create(0UL, 2, 4, 6, 8, 10, 12, 14), OddWords = Vector512.Create(1UL, 3, 5, 7, 9, 11, 13, 15);

    /// <summary>Words 0, 2, 4, 6 of one vector and 1, 3, 5, 7 of a second loaded 7 words on: words 0, 2, …, 14 of 15.</summary>
    internal static readonly Vector512<ulong> StrideTwoWords = Vector512.Create(0UL, 2, 4, 6, 9, 11, 13, 15);

    /// <summary>
    /// One block of <paramref name="pixelBlock"/> consecutive lanes whose pixels all lie inside the input row, lane l at
    /// <paramref name="src"/> + l·sW·words, by vector moves where the layout allows: word wi of lane l goes to
    /// d[wi·pixelBlock + l] (OR-ed in, shifted, for a shared word's later taps; a spilling tap's high channels stored
    /// to d[pixelBlock + l]). Stride 1 with one word per pixel is a vector copy, stride 2 a copy of the even words;
    /// with two words per pixel a vector deinterleave (the 128-channel layers), with a multiple of four words 4×4 word
    /// transposes. False (nothing written) for other shapes (strided with more words, three words, …), which the
    /// caller copies lane by lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool VectorBlock(ulong* src, ulong* d, int words, int sw, int shift, bool spill, int pixelBlock)
    {
        if (sw == 1 && words == 1 && pixelBlock % 8 == 0 && Vector512.IsHardwareAccelerated)
        {
            for (int l = 0; l < pixelBlock; l += 8)
            {
                Place(Vector512.Load(src + l), d + l, d + pixelBlock + l, shift, spill);
            }
            return true;
        }
        if (sw == 1 && words == 1 && pixelBlock % 4 == 0 && Vector256.IsHardwareAccelerated)
        {
            for (int l = 0; l < pixelBlock; l += 4)
            {
                Place(Vector256.Load(src + l), d + l, d + pixelBlock + l, shift, spill);
            }
            return true;
        }
        if (sw == 2 && words == 1 && pixelBlock % 8 == 0 && Avx512F.IsSupported)
        {
            // Stride 2 (the backbone's downsampling 3×3 convs, which went lane by lane): lane l reads word 2l, the even
            // words of 2·P. The second load ends at the last word read (2P − 2), not one past it, so that no load reaches
            // beyond the last pixel the block reads. Frames 0.992 and 1/1.008 (Zen 4); AVX2 0.996 and 1/1.001.
            for (int l = 0; l < pixelBlock; l += 8)
            {
                var even = Avx512F.PermuteVar8x64x2(Vector512.Load(src + 2 * l), StrideTwoWords, Vector512.Load(src + 2 * l + 7));
                Place(even, d + l, d + pixelBlock + l, shift, spill);
            }
            return true;
        }
        if (sw == 2 && words == 1 && pixelBlock % 4 == 0 && Avx2.IsSupported)
        {
            for (int l = 0; l < pixelBlock; l += 4)
            {
                // Words 0 and 2 of the first load, 1 and 3 of the second (which starts at word 3): words 0, 2, 4, 6.
                var even = Avx2.Blend(Avx2.Permute4x64(Vector256.Load(src + 2 * l), 0b_00_00_10_00).AsUInt32(),
                    Avx2.Permute4x64(Vector256.Load(src + 2 * l + 3), 0b_11_01_00_00).AsUInt32(), 0b_1111_0000).AsUInt64();
                Place(even, d + l, d + pixelBlock + l, shift, spill);
            }
            return true;
        }
        if (sw == 1 && words == 2 && pixelBlock % 8 == 0 && Avx512F.IsSupported)
        {
            for (int l = 0; l < pixelBlock; l += 8)
            {
                var lo = Vector512.Load(src + 2 * l);
                var hi = Vector512.Load(src + 2 * l + 8);
                Avx512F.PermuteVar8x64x2(lo, EvenWords, hi).Store(d + l);
                Avx512F.PermuteVar8x64x2(lo, OddWords, hi).Store(d + pixelBlock + l);
            }
            return true;
        }
        if (sw == 1 && words % 4 == 0 && pixelBlock % 4 == 0 && Avx2.IsSupported)
        {
            // Four pixels by four words at a time, a 4×4 transpose of 64-bit words (the 256- and 1024-channel layers,
            // which copied lane by lane before: on AVX-512 hosts too, where no 512-bit form is written): within each
            // 128-bit half, unpack pairs pixels 0 and 1 (2 and 3) word by word; the halves are then put together.
            // With the two-word form below (the AVX2 kernel's 4-pixel blocks): AVX2 frames 0.991 and 0.993 (300 and
            // 800 rounds alternated in one process, Zen 5 with AVX-512 off in .NET), AVX-512 frames 0.999.
            for (int l = 0; l < pixelBlock; l += 4)
                for (int wi = 0; wi < words; wi += 4)
                {
                    ulong* s = src + (long)l * words + wi;
                    var r0 = Vector256.Load(s);
                    var r1 = Vector256.Load(s + words);
                    var r2 = Vector256.Load(s + 2 * words);
                    var r3 = Vector256.Load(s + 3 * words);
                    var t0 = Avx2.UnpackLow(r0, r1);
                    var t1 = Avx2.UnpackHigh(r0, r1);
                    var t2 = Avx2.UnpackLow(r2, r3);
                    var t3 = Avx2.UnpackHigh(r2, r3);
                    ulong* o = d + (long)wi * pixelBlock + l;
                    Avx2.Permute2x128(t0, t2, 0x20).Store(o);
                    Avx2.Permute2x128(t1, t3, 0x20).Store(o + pixelBlock);
                    Avx2.Permute2x128(t0, t2, 0x31).Store(o + 2 * pixelBlock);
                    Avx2.Permute2x128(t1, t3, 0x31).Store(o + 3 * pixelBlock);
                }
            return true;
        }
        if (sw == 1 && words == 2 && pixelBlock % 4 == 0 && Avx2.IsSupported)
        {
            for (int l = 0; l < pixelBlock; l += 4)
            {
                // Each pair of pixels' four words as (pixel 0 word 0, pixel 1 word 0, pixel 0 word 1, pixel 1 word 1).
                var a = Avx2.Permute4x64(Vector256.Load(src + 2 * l), 0xD8);
                var b = Avx2.Permute4x64(Vector256.Load(src + 2 * l + 4), 0xD8);
                Avx2.Permute2x128(a, b, 0x20).Store(d + l);
                Avx2.Permute2x128(a, b, 0x31).Store(d + pixelBlock + l);
            }
            return true;
        }
        return false;
    }
}
