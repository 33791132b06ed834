using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// <see cref="PatchGatherer.Gather"/> for the 3×3 layers at dilation 1 whose taps fall into the patch words in a fixed
/// pattern, at stride 1 (and 2 for one word a pixel): the decoder's sparse convs and ConvGRUs, most of the backbone's
/// 3×3s. On 512-bit hosts, eight lanes at a time, each patch word composed in a register from the nine taps' loads
/// (the three input rows at three columns each) and stored once, where the general gather places the taps one after
/// another, each tap a pass over the row's blocks that loads, shifts, ORs into and stores the word it shares (and a
/// sparse row's scattered lanes of several words one word at a time). The same words
/// (<see cref="BinaryConv2dParams.TapWord"/>'s places, zero where a tap reads the padding, zero lanes past the list),
/// so the same counts.
/// </summary>
/// <remarks>
/// The layouts: one word a pixel with four taps a word (Cin ≤ 16), two (17–32), two with the odd tap spilling into the
/// next word (33–35 channels bit-tight: 5 words) or one tap a word (57–64: 9 words); and two or four words a pixel
/// (65–128, 193–256 channels), each tap its pixel's words. Eight lanes of consecutive columns take one vector load per
/// tap (per four lanes, two words a pixel; per two, four; at stride 2 the even words of two loads), masked where some lanes read outside the row or lie past
/// the list (a masked-off lane neither loads nor faults, as in the general gather's edge blocks); a group whose columns
/// are several runs (a sparse row's active cells narrower than the group) one masked load per run and tap, at stride 1,
/// and one load per lane and tap at stride 2. Measured: docs/kernels.md, *the thirty-second session*.
/// </remarks>
internal static unsafe class ComposedPatches
{
    private enum Layout { None, FourTaps, TwoTaps, OneTap, TwoWords, FourWords }

    /// <summary>The layout of <paramref name="p"/>'s patches that this gather composes, or None.</summary>
    private static Layout Of(BinaryConv2dParams p)
    {
        if (p.KernelHeight != 3 || p.KernelWidth != 3 || p.DilationHeight != 1 || p.DilationWidth != 1
            || p.StrideHeight != p.StrideWidth || p.StrideWidth is not (1 or 2))
            return Layout.None;
        // Several words a pixel (stride 1): tap t is words t·W … t·W + W − 1 of the patch, the pixel's words in order.
        if (p.Words != 1) return p.StrideWidth != 1 ? Layout.None : p.Words == 2 ? Layout.TwoWords : p.Words == 4 ? Layout.FourWords : Layout.None;
        return p.TapBits switch
        {
            16 => Layout.FourTaps,
            32 => Layout.TwoTaps,
            64 => Layout.OneTap,
            // Bit-tight with five words (33–35 channels): tap 2m + 1 starts in word m and spills into word m + 1.
            _ when p.KernelWords == 5 => Layout.TwoTaps,
            _ => Layout.None,
        };
    }

    /// <summary>Whether this gather takes <paramref name="p"/>'s patches in blocks of <paramref name="pixelBlock"/> lanes on this CPU.</summary>
    public static bool Takes(BinaryConv2dParams p, int pixelBlock) => LayoutFor(p, pixelBlock) != Layout.None;

    /// <summary>The layout this gather composes for <paramref name="p"/> in blocks of <paramref name="pixelBlock"/> lanes on this CPU, or None.</summary>
    private static Layout LayoutFor(BinaryConv2dParams p, int pixelBlock) =>
        pixelBlock % 8 == 0 && Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Of(p) : Layout.None;

    /// <summary>
    /// <see cref="PatchGatherer.Gather"/>'s contract where <see cref="Takes"/> holds: the patches of output row
    /// <paramref name="y"/> at the listed columns into the [block][k][pixel] layout, fill lanes zero. False (nothing
    /// written) where it does not, for the general gather.
    /// </summary>
    public static bool TryGather(BinaryConv2dParams p, ulong* packed, int y, int* xs, int count, int pixelBlock, ulong* dst)
    {
        switch (LayoutFor(p, pixelBlock))
        {
            case Layout.None: return false;
            case Layout.FourTaps: Groups(new FourTaps(), p, packed, y, xs, count, pixelBlock, dst); break;
            case Layout.TwoTaps when p.TapBits > 32: Groups(new TwoTapsSpilling(p.TapBits), p, packed, y, xs, count, pixelBlock, dst); break;
            case Layout.TwoTaps: Groups(new TwoTaps(), p, packed, y, xs, count, pixelBlock, dst); break;
            case Layout.OneTap: Groups(new OneTap(), p, packed, y, xs, count, pixelBlock, dst); break;
            default: WideGroups(p, packed, y, xs, count, pixelBlock, dst); break;
        }
        return true;
    }

    /// <summary>The lanes in groups of eight, each group's nine taps loaded and composed into its words by <typeparamref name="TCompose"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Groups<TCompose>(TCompose compose, BinaryConv2dParams p, ulong* packed, int y, int* xs, int count, int pixelBlock, ulong* dst)
        where TCompose : struct, ICompose
    {
        int words = p.KernelWords, width = p.InWidth;
        long blockStride = (long)words * pixelBlock;
        // The three input rows the kernel rows read; null where a row lies in the padding (its taps are zero words).
        ulong* above = Row(p, packed, y, 0), middle = Row(p, packed, y, 1), below = Row(p, packed, y, 2);
        bool strided = p.StrideWidth == 2;
        int blocks = (count + pixelBlock - 1) / pixelBlock;
        for (int b = 0, i = 0; b < blocks; b++)
            for (int l = 0; l < pixelBlock; l += 8, i += 8)
            {
                ulong* d = dst + b * blockStride + l;
                int n = Math.Clamp(count - i, 0, 8);
                if (n == 0)
                {
                    for (int k = 0; k < words; k++) Vector512<ulong>.Zero.Store(d + k * pixelBlock);
                    continue;
                }
                bool consecutive = xs[i + n - 1] - xs[i] == n - 1;
                if (strided)
                {
                    if (consecutive) StridedGroup(compose, above, middle, below, 2 * xs[i] - p.PadLeft, n, width, d, pixelBlock);
                    else Scattered(p, packed, y, xs + i, n, d, pixelBlock);
                    continue;
                }
                int ix = xs[i] - p.PadLeft; // lane l's kernel column kx reads input column ix + l + kx
                if (consecutive && n == 8 && ix >= 0 && ix + 10 <= width)
                {
                    compose.Store(Load(above, ix), Load(above, ix + 1), Load(above, ix + 2),
                        Load(middle, ix), Load(middle, ix + 1), Load(middle, ix + 2),
                        Load(below, ix), Load(below, ix + 1), Load(below, ix + 2), d, pixelBlock);
                    continue;
                }
                // The row's edges, a list's last group of fewer than eight, or several runs: masked loads, one a run and tap.
                RunsGroup(compose, above, middle, below, xs + i, n, consecutive, p.PadLeft, width, d, pixelBlock);
            }
    }

    /// <summary>
    /// One group of <see cref="Groups{TCompose}"/> at stride 1 that is not eight consecutive columns inside the row: one run
    /// at the row's edges or as a list's last, partial group, or several runs of consecutive columns with gaps between them
    /// (a sparse row's active cells narrower than the group, at mask_scale 4 or 2 with one word a pixel: the kernel
    /// benchmark's 64 → 64; the shipped model's sparse convs with such cells have two and four words a pixel,
    /// <see cref="WideGroups"/>). Each run's lanes by one masked load per tap at the run's own offset, so that lane l reads
    /// column xs[l] − pad + kx, the runs' loads ORed (their lanes are apart), then composed as a consecutive group is.
    /// Masked where a lane lies outside its run or its column outside the row (zero, as the padding), lanes from n on zero.
    /// <paramref name="consecutive"/>: the caller found the n columns one run, so they are not scanned again (frames as with
    /// the masked loads of one run written out apart, 0.999 and 1/1.001). Several runs had gone to <see cref="Scattered"/>,
    /// lane by lane and tap by tap, a quarter of the folded sparse conv's time on such rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunsGroup<TCompose>(TCompose compose, ulong* above, ulong* middle, ulong* below, int* xs, int n, bool consecutive, int padLeft, int width,
        ulong* d, int pixelBlock)
        where TCompose : struct, ICompose
    {
        var lane = Vector512.Create(0L, 1, 2, 3, 4, 5, 6, 7);
        var limit = Vector512.Create((long)width);
        Vector512<ulong> a0 = default, a1 = default, a2 = default, m0 = default, m1 = default, m2 = default, b0 = default, b1 = default, b2 = default;
        for (int s = 0; s < n;)
        {
            int e = consecutive ? n : s + 1;
            while (e < n && xs[e] == xs[e - 1] + 1) e++;
            // Lanes s … e − 1 read columns ix + l + kx: the run's first column less its lane, so one load serves the run.
            int ix = xs[s] - padLeft - s;
            var column = lane + Vector512.Create((long)ix);
            var run = Vector512.GreaterThanOrEqual(lane, Vector512.Create((long)s)) & Vector512.LessThan(lane, Vector512.Create((long)e));
            var k0 = (run & Vector512.GreaterThanOrEqual(column, Vector512<long>.Zero) & Vector512.LessThan(column, limit)).AsUInt64();
            var k1 = (run & Vector512.GreaterThanOrEqual(column, Vector512.Create(-1L)) & Vector512.LessThan(column, limit - Vector512<long>.One)).AsUInt64();
            var k2 = (run & Vector512.GreaterThanOrEqual(column, Vector512.Create(-2L)) & Vector512.LessThan(column, limit - Vector512.Create(2L))).AsUInt64();
            a0 |= Load(above, ix, k0); a1 |= Load(above, ix + 1, k1); a2 |= Load(above, ix + 2, k2);
            m0 |= Load(middle, ix, k0); m1 |= Load(middle, ix + 1, k1); m2 |= Load(middle, ix + 2, k2);
            b0 |= Load(below, ix, k0); b1 |= Load(below, ix + 1, k1); b2 |= Load(below, ix + 2, k2);
            s = e;
        }
        compose.Store(a0, a1, a2, m0, m1, m2, b0, b1, b2, d, pixelBlock);
    }

    /// <summary>
    /// One group of <see cref="Groups{TCompose}"/> at stride 2 (the backbone's downsampling 3×3s), consecutive lanes:
    /// lane l of kernel column kx reads input column <paramref name="ix"/> + 2l + kx, the even words of two loads (the
    /// second ending at the last word read, so that none reaches past it), masked word by word at the row's edges and
    /// past the <paramref name="n"/> listed lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StridedGroup<TCompose>(TCompose compose, ulong* above, ulong* middle, ulong* below, int ix, int n, int width, ulong* d, int pixelBlock)
        where TCompose : struct, ICompose
    {
        if (n == 8 && ix >= 0 && ix + 17 <= width)
            compose.Store(Even(above, ix), Even(above, ix + 1), Even(above, ix + 2),
                Even(middle, ix), Even(middle, ix + 1), Even(middle, ix + 2),
                Even(below, ix), Even(below, ix + 1), Even(below, ix + 2), d, pixelBlock);
        else
            compose.Store(Even(above, ix, n, width), Even(above, ix + 1, n, width), Even(above, ix + 2, n, width),
                Even(middle, ix, n, width), Even(middle, ix + 1, n, width), Even(middle, ix + 2, n, width),
                Even(below, ix, n, width), Even(below, ix + 1, n, width), Even(below, ix + 2, n, width), d, pixelBlock);
    }

    /// <summary>Words ix, ix + 2, …, ix + 14 of <paramref name="row"/> (zero for a padding row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Even(ulong* row, int ix) =>
        row is null ? Vector512<ulong>.Zero : Avx512F.PermuteVar8x64x2(Vector512.Load(row + ix), PatchGatherer.StrideTwoWords, Vector512.Load(row + ix + 7));

    /// <summary><see cref="Even(ulong*, int)"/> with the words outside the row, and the lanes from <paramref name="n"/> on, zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Even(ulong* row, int ix, int n, int width)
    {
        if (row is null) return Vector512<ulong>.Zero;
        // Word j of the first load is column ix + j (lane j / 2 where j is even), of the second ix + 7 + j (lane (7 + j) / 2).
        var at = WordIndex + Vector512.Create((long)ix);
        var first = Vector512.LessThan(LanesOfFirstWords, Vector512.Create((long)n)) & Vector512.GreaterThanOrEqual(at, Vector512<long>.Zero) & Vector512.LessThan(at, Vector512.Create((long)width));
        at += Vector512.Create(7L);
        var second = Vector512.LessThan(LanesOfSecondWords, Vector512.Create((long)n)) & Vector512.GreaterThanOrEqual(at, Vector512<long>.Zero) & Vector512.LessThan(at, Vector512.Create((long)width));
        return Avx512F.PermuteVar8x64x2(Avx512F.MaskLoad(row + ix, first.AsUInt64(), Vector512<ulong>.Zero), PatchGatherer.StrideTwoWords,
            Avx512F.MaskLoad(row + ix + 7, second.AsUInt64(), Vector512<ulong>.Zero));
    }

    /// <summary>0 … 7, and the lane each word of <see cref="Even(ulong*, int, int, int)"/>'s two loads belongs to.</summary>
    private static readonly Vector512<long> WordIndex = Vector512.Create(0L, 1, 2, 3, 4, 5, 6, 7),
        LanesOfFirstWords = Vector512.Create(0L, 0, 1, 1, 2, 2, 3, 3), LanesOfSecondWords = Vector512.Create(3L, 4, 4, 5, 5, 6, 6, 7);

    /// <summary>A layout's words of eight lanes from their nine taps (tap ky·3 + kx), word k stored at d + k·pixelBlock.</summary>
    private interface ICompose
    {
        void Store(Vector512<ulong> t0, Vector512<ulong> t1, Vector512<ulong> t2, Vector512<ulong> t3, Vector512<ulong> t4,
            Vector512<ulong> t5, Vector512<ulong> t6, Vector512<ulong> t7, Vector512<ulong> t8, ulong* d, int pixelBlock);
    }

    /// <summary>Cin ≤ 16: taps 4m … 4m + 3 in word m, 16 bits each; tap 8 alone in word 2.</summary>
    private readonly struct FourTaps : ICompose
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(Vector512<ulong> t0, Vector512<ulong> t1, Vector512<ulong> t2, Vector512<ulong> t3, Vector512<ulong> t4,
            Vector512<ulong> t5, Vector512<ulong> t6, Vector512<ulong> t7, Vector512<ulong> t8, ulong* d, int pixelBlock)
        {
            (t0 | t1 << 16 | t2 << 32 | t3 << 48).Store(d);
            (t4 | t5 << 16 | t6 << 32 | t7 << 48).Store(d + pixelBlock);
            t8.Store(d + 2 * pixelBlock);
        }
    }

    /// <summary>17–32 channels: taps 2m and 2m + 1 in word m, 32 bits each; tap 8 alone in word 4.</summary>
    private readonly struct TwoTaps : ICompose
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(Vector512<ulong> t0, Vector512<ulong> t1, Vector512<ulong> t2, Vector512<ulong> t3, Vector512<ulong> t4,
            Vector512<ulong> t5, Vector512<ulong> t6, Vector512<ulong> t7, Vector512<ulong> t8, ulong* d, int pixelBlock)
        {
            (t0 | t1 << 32).Store(d);
            (t2 | t3 << 32).Store(d + pixelBlock);
            (t4 | t5 << 32).Store(d + 2 * pixelBlock);
            (t6 | t7 << 32).Store(d + 3 * pixelBlock);
            t8.Store(d + 4 * pixelBlock);
        }
    }

    /// <summary>
    /// 33–35 channels bit-tight: tap t from bit t·Cin, so word m holds tap 2m from bit m·(2Cin − 64) and tap 2m + 1 from
    /// bit (2m + 1)·Cin − 64m, whose high channels begin word m + 1. The shift counts are formed once, as the vectors
    /// VPSLLQ and VPSRLQ take them.
    /// </summary>
    private readonly struct TwoTapsSpilling(int c) : ICompose
    {
        private readonly Vector128<ulong> _odd0 = Count(c), _spill0 = Count(64 - c), _even1 = Count(2 * c - 64), _odd1 = Count(3 * c - 64),
            _spill1 = Count(128 - 3 * c), _even2 = Count(4 * c - 128), _odd2 = Count(5 * c - 128), _spill2 = Count(192 - 5 * c),
            _even3 = Count(6 * c - 192), _odd3 = Count(7 * c - 192), _spill3 = Count(256 - 7 * c), _even4 = Count(8 * c - 256);

        private static Vector128<ulong> Count(int bits) => Vector128.CreateScalar((ulong)bits);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(Vector512<ulong> t0, Vector512<ulong> t1, Vector512<ulong> t2, Vector512<ulong> t3, Vector512<ulong> t4,
            Vector512<ulong> t5, Vector512<ulong> t6, Vector512<ulong> t7, Vector512<ulong> t8, ulong* d, int pixelBlock)
        {
            (t0 | Avx512F.ShiftLeftLogical(t1, _odd0)).Store(d);
            (Avx512F.ShiftRightLogical(t1, _spill0) | Avx512F.ShiftLeftLogical(t2, _even1) | Avx512F.ShiftLeftLogical(t3, _odd1)).Store(d + pixelBlock);
            (Avx512F.ShiftRightLogical(t3, _spill1) | Avx512F.ShiftLeftLogical(t4, _even2) | Avx512F.ShiftLeftLogical(t5, _odd2)).Store(d + 2 * pixelBlock);
            (Avx512F.ShiftRightLogical(t5, _spill2) | Avx512F.ShiftLeftLogical(t6, _even3) | Avx512F.ShiftLeftLogical(t7, _odd3)).Store(d + 3 * pixelBlock);
            (Avx512F.ShiftRightLogical(t7, _spill3) | Avx512F.ShiftLeftLogical(t8, _even4)).Store(d + 4 * pixelBlock);
        }
    }

    /// <summary>43–64 channels in one word: tap t is word t.</summary>
    private readonly struct OneTap : ICompose
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(Vector512<ulong> t0, Vector512<ulong> t1, Vector512<ulong> t2, Vector512<ulong> t3, Vector512<ulong> t4,
            Vector512<ulong> t5, Vector512<ulong> t6, Vector512<ulong> t7, Vector512<ulong> t8, ulong* d, int pixelBlock)
        {
            t0.Store(d); t1.Store(d + pixelBlock); t2.Store(d + 2 * pixelBlock);
            t3.Store(d + 3 * pixelBlock); t4.Store(d + 4 * pixelBlock); t5.Store(d + 5 * pixelBlock);
            t6.Store(d + 6 * pixelBlock); t7.Store(d + 7 * pixelBlock); t8.Store(d + 8 * pixelBlock);
        }
    }

    /// <summary>
    /// The lanes in groups of eight for two or four words a pixel: for each tap, each lane's W words (one 128- or
    /// 256-bit load, from a zero row where the tap reads the padding or the lane lies past the list; eight lanes of
    /// consecutive columns inside the row as W 512-bit loads) put side by side, two lanes a vector, and transposed into
    /// W vectors of eight lanes, patch words t·W … t·W + W − 1. A sparse row's active cells at decode2 and decode3 (4
    /// and 2 columns each) went lane by lane through the general gather.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WideGroups(BinaryConv2dParams p, ulong* packed, int y, int* xs, int count, int pixelBlock, ulong* dst)
    {
        int words = p.Words, width = p.InWidth, patchWords = p.KernelWords;
        long blockStride = (long)patchWords * pixelBlock;
        ulong** rows = stackalloc ulong*[3];
        for (int ky = 0; ky < 3; ky++) rows[ky] = Row(p, packed, y, ky);
        int blocks = (count + pixelBlock - 1) / pixelBlock;
        for (int b = 0, i = 0; b < blocks; b++)
            for (int l = 0; l < pixelBlock; l += 8, i += 8)
            {
                ulong* d = dst + b * blockStride + l;
                int n = Math.Clamp(count - i, 0, 8);
                int ix = n > 0 ? xs[i] - p.PadLeft : 0; // lane 0's kernel column kx reads input column ix + kx
                if (n == 8 && xs[i + 7] - xs[i] == 7 && ix >= 0 && ix + 10 <= width)
                {
                    // Eight consecutive pixels inside the row: their 8·W words are contiguous, two lanes a vector already.
                    if (words == 2) Inside2(rows, ix, d, pixelBlock);
                    else Inside4(rows, ix, d, pixelBlock);
                }
                else EdgeGroup(rows, xs + i, n, ix, words, width, d, pixelBlock);
            }
    }

    /// <summary>Eight consecutive lanes inside the row, two words a pixel: each tap's 16 words as two loads, transposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Inside2(ulong** rows, int ix, ulong* d, int pixelBlock)
    {
        for (int ky = 0; ky < 3; ky++, d += 6 * pixelBlock)
        {
            ulong* row = rows[ky];
            if (row is null)
            {
                for (int k = 0; k < 6; k++) Vector512<ulong>.Zero.Store(d + k * pixelBlock);
                continue;
            }
            ulong* src = row + 2 * ix;
            Transpose2(Vector512.Load(src), Vector512.Load(src + 8), d, pixelBlock);
            Transpose2(Vector512.Load(src + 2), Vector512.Load(src + 10), d + 2 * pixelBlock, pixelBlock);
            Transpose2(Vector512.Load(src + 4), Vector512.Load(src + 12), d + 4 * pixelBlock, pixelBlock);
        }
    }

    /// <summary>Eight consecutive lanes inside the row, four words a pixel: each tap's 32 words as four loads, transposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Inside4(ulong** rows, int ix, ulong* d, int pixelBlock)
    {
        for (int ky = 0; ky < 3; ky++)
        {
            ulong* row = rows[ky];
            for (int kx = 0; kx < 3; kx++, d += 4 * pixelBlock)
            {
                if (row is null)
                {
                    for (int k = 0; k < 4; k++) Vector512<ulong>.Zero.Store(d + k * pixelBlock);
                    continue;
                }
                ulong* src = row + 4 * (ix + kx);
                Transpose4(Vector512.Load(src), Vector512.Load(src + 8), Vector512.Load(src + 16), Vector512.Load(src + 24), d, pixelBlock);
            }
        }
    }

    /// <summary>
    /// Eight lanes that are not all consecutive and inside the row (the row's edges, a list's end or gaps): consecutive
    /// lanes by masked loads of their contiguous words, others one load per lane and tap (from a zero row where the tap
    /// reads the padding), lanes past the <paramref name="n"/> listed zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void EdgeGroup(ulong** rows, int* xs, int n, int ix, int words, int width, ulong* d, int pixelBlock)
    {
        ulong* zeros = stackalloc ulong[4];
        new Span<ulong>(zeros, 4).Clear();
        ulong** lanes = stackalloc ulong*[8];
        bool consecutive = n > 0 && xs[n - 1] - xs[0] == n - 1;
        for (int t = 0; t < 9; t++)
        {
            ulong* row = rows[t / 3];
            int kx = t % 3;
            ulong* tap = d + (long)t * words * pixelBlock;
            if (row is null || n == 0)
            {
                for (int k = 0; k < words; k++) Vector512<ulong>.Zero.Store(tap + k * pixelBlock);
                continue;
            }
            if (consecutive)
            {
                // Their 8·W words are contiguous; those of lanes that read the padding or lie past the list masked off
                // (neither loaded nor faulting).
                ulong* src = row + (long)(ix + kx) * words;
                if (words == 2)
                    Transpose2(Masked(src, LanesOfWords2, 0, ix + kx, n, width), Masked(src + 8, LanesOfWords2, 4, ix + kx, n, width), tap, pixelBlock);
                else
                    Transpose4(Masked(src, LanesOfWords4, 0, ix + kx, n, width), Masked(src + 8, LanesOfWords4, 2, ix + kx, n, width),
                        Masked(src + 16, LanesOfWords4, 4, ix + kx, n, width), Masked(src + 24, LanesOfWords4, 6, ix + kx, n, width), tap, pixelBlock);
                continue;
            }
            for (int k = 0; k < 8; k++)
            {
                int column = k < n ? xs[k] - (xs[0] - ix) + kx : -1;
                lanes[k] = column >= 0 && column < width ? row + (long)column * words : zeros;
            }
            if (words == 2)
                Transpose2(Vector512.Create(Vector256.Create(Vector128.Load(lanes[0]), Vector128.Load(lanes[1])), Vector256.Create(Vector128.Load(lanes[2]), Vector128.Load(lanes[3]))),
                    Vector512.Create(Vector256.Create(Vector128.Load(lanes[4]), Vector128.Load(lanes[5])), Vector256.Create(Vector128.Load(lanes[6]), Vector128.Load(lanes[7]))),
                    tap, pixelBlock);
            else
                Transpose4(Vector512.Create(Vector256.Load(lanes[0]), Vector256.Load(lanes[1])), Vector512.Create(Vector256.Load(lanes[2]), Vector256.Load(lanes[3])),
                    Vector512.Create(Vector256.Load(lanes[4]), Vector256.Load(lanes[5])), Vector512.Create(Vector256.Load(lanes[6]), Vector256.Load(lanes[7])),
                    tap, pixelBlock);
        }
    }

    /// <summary>
    /// Eight words at <paramref name="src"/> of consecutive lanes, word j belonging to lane <paramref name="firstLane"/> +
    /// <paramref name="lanesOfWords"/>[j], which reads column <paramref name="column"/> + that lane: loaded where the
    /// column lies inside the row and the lane is one of the <paramref name="n"/> listed, zero elsewhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Masked(ulong* src, Vector512<long> lanesOfWords, int firstLane, int column, int n, int width)
    {
        var lane = lanesOfWords + Vector512.Create((long)firstLane);
        var at = lane + Vector512.Create((long)column);
        var read = Vector512.LessThan(lane, Vector512.Create((long)n)) & Vector512.GreaterThanOrEqual(at, Vector512<long>.Zero) & Vector512.LessThan(at, Vector512.Create((long)width));
        return Avx512F.MaskLoad(src, read.AsUInt64(), Vector512<ulong>.Zero);
    }

    /// <summary>The lane (from the vector's first) of each of eight words, two or four words a lane.</summary>
    private static readonly Vector512<long> LanesOfWords2 = Vector512.Create(0L, 0, 1, 1, 2, 2, 3, 3), LanesOfWords4 = Vector512.Create(0L, 0, 0, 0, 1, 1, 1, 1);

    /// <summary>Lanes 0–3 (<paramref name="a"/>) and 4–7 (<paramref name="b"/>), each lane's two words side by side, as word 0 and word 1 of the eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose2(Vector512<ulong> a, Vector512<ulong> b, ulong* d, int pixelBlock)
    {
        Avx512F.PermuteVar8x64x2(a, PatchGatherer.EvenWords, b).Store(d);
        Avx512F.PermuteVar8x64x2(a, PatchGatherer.OddWords, b).Store(d + pixelBlock);
    }

    /// <summary>Lanes 2k and 2k + 1 in <paramref name="p0"/> … <paramref name="p3"/>, each lane's four words in order, as words 0–3 of the eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4(Vector512<ulong> p0, Vector512<ulong> p1, Vector512<ulong> p2, Vector512<ulong> p3, ulong* d, int pixelBlock)
    {
        // Lanes 0–3's words 0 and 1 (then 2 and 3), and lanes 4–7's likewise; then each word's two halves.
        var low01 = Avx512F.PermuteVar8x64x2(p0, Words01, p1);
        var low23 = Avx512F.PermuteVar8x64x2(p0, Words23, p1);
        var high01 = Avx512F.PermuteVar8x64x2(p2, Words01, p3);
        var high23 = Avx512F.PermuteVar8x64x2(p2, Words23, p3);
        Avx512F.PermuteVar8x64x2(low01, FirstHalves, high01).Store(d);
        Avx512F.PermuteVar8x64x2(low01, SecondHalves, high01).Store(d + pixelBlock);
        Avx512F.PermuteVar8x64x2(low23, FirstHalves, high23).Store(d + 2 * pixelBlock);
        Avx512F.PermuteVar8x64x2(low23, SecondHalves, high23).Store(d + 3 * pixelBlock);
    }

    /// <summary>
    /// Of two vectors holding lanes 0–1 and 2–3, four words each: word 0 of lanes 0–3 then word 1 (<see cref="Words01"/>),
    /// words 2 and 3 (<see cref="Words23"/>); of two such results, the first four and the last four words of each.
    /// </summary>
    private static readonly Vector512<ulong> Words01 = Vector512.Create(0UL, 4, 8, 12, 1, 5, 9, 13), Words23 = Vector512.Create(2UL, 6, 10, 14, 3, 7, 11, 15),
        FirstHalves = Vector512.Create(0UL, 1, 2, 3, 8, 9, 10, 11), SecondHalves = Vector512.Create(4UL, 5, 6, 7, 12, 13, 14, 15);

    /// <summary>Input row y·StrideHeight − PadTop + <paramref name="ky"/>, or null where it lies in the padding.</summary>
    private static ulong* Row(BinaryConv2dParams p, ulong* packed, int y, int ky)
    {
        int iy = y * p.StrideHeight - p.PadTop + ky;
        return iy >= 0 && iy < p.InHeight ? packed + (long)iy * p.InWidth * p.Words : null;
    }

    /// <summary>Eight consecutive words of <paramref name="row"/> from column <paramref name="ix"/> (zero for a padding row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Load(ulong* row, int ix) => row is null ? Vector512<ulong>.Zero : Vector512.Load(row + ix);

    /// <summary><see cref="Load(ulong*, int)"/> of the lanes <paramref name="mask"/> selects, the others zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Load(ulong* row, int ix, Vector512<ulong> mask) =>
        row is null ? Vector512<ulong>.Zero : Avx512F.MaskLoad(row + ix, mask, Vector512<ulong>.Zero);

    /// <summary>
    /// Lanes whose columns are not consecutive, one by one by the layout's definition (each tap at
    /// <see cref="BinaryConv2dParams.TapWord"/>'s place), lanes <paramref name="n"/> to 7 zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scattered(BinaryConv2dParams p, ulong* packed, int y, int* xs, int n, ulong* d, int pixelBlock)
    {
        int words = p.KernelWords;
        ulong* patch = stackalloc ulong[words];
        for (int l = 0; l < 8; l++)
        {
            new Span<ulong>(patch, words).Clear();
            for (int t = 0; l < n && t < 9; t++)
            {
                int iy = y * p.StrideHeight - p.PadTop + t / 3, ix = xs[l] * p.StrideWidth - p.PadLeft + t % 3;
                if (iy < 0 || iy >= p.InHeight || ix < 0 || ix >= p.InWidth) continue;
                ulong v = packed[(long)iy * p.InWidth + ix];
                var (k, shift, spill) = p.TapWord(t);
                patch[k] |= v << shift;
                if (spill) patch[k + 1] |= v >> (64 - shift);
            }
            for (int k = 0; k < words; k++) d[k * pixelBlock + l] = patch[k];
        }
    }
}
