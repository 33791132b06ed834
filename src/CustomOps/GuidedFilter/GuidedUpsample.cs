using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.Cpu;
using BiVM.CustomOps.Upsampling;

namespace BiVM.CustomOps.GuidedFilter;

/// <summary>
/// The Deep Guided Filter's full-resolution tail in one pass (docs/kernels.md, "Guided upsampling"): A and b
/// (4 channels each, at the working size h×w) resized bilinearly to the frame's H×W, the guide x = [src, mean_c(src)],
/// out = A·x + b, then fgr = clip(out[0..2] + src, 0, 1) and pha = clip(out[3], 0, 1) — the exporter's Resize,
/// Resize, ReduceMean, Concat, Mul, Add, Split, Add, Clip, Clip. Each value is computed with ORT's float32 operations
/// in ORT's order: the interpolation as ORT's NCHW bilinear kernel writes it,
/// ((wx₁wy₁)·X₁₁ + (wx₂wy₁)·X₂₁) + (wx₁wy₂)·X₁₂ + (wx₂wy₂)·X₂₂, the mean as ((s₀ + s₁) + s₂) / 3, each
/// product and sum rounded once (no fused multiply-add).
/// </summary>
internal static unsafe class GuidedUpsample
{
    /// <summary>Channels of A and b (three colour gains and one alpha gain).</summary>
    public const int Channels = 4;

    /// <summary>Interpolated planes per row: A's four, then b's four.</summary>
    private const int Planes = 2 * Channels;

    /// <summary>
    /// The specification, one image: <paramref name="a"/> and <paramref name="b"/> are [4, h, w], <paramref name="src"/>
    /// [3, H, W]; writes <paramref name="fgr"/> [3, H, W] and <paramref name="pha"/> [H, W].
    /// </summary>
    public static void Reference(float* a, float* b, BilinearAxis rows, BilinearAxis columns, float* src, float* fgr, float* pha)
    {
        int h = rows.InputLength, w = columns.InputLength, height = rows.OutputLength, width = columns.OutputLength;
        long plane = (long)height * width, small = (long)h * w;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                long at = (long)y * width + x;
                float s0 = src[at], s1 = src[plane + at], s2 = src[2 * plane + at];
                float mean = (s0 + s1 + s2) / 3f;
                for (int c = 0; c < Channels; c++)
                {
                    float gain = Sample(a + c * small, w, rows, columns, y, x);
                    float offset = Sample(b + c * small, w, rows, columns, y, x);
                    float guide = c < 3 ? src[c * plane + at] : mean;
                    float product = gain * guide;
                    float output = product + offset;
                    if (c < 3) fgr[c * plane + at] = Clip(output + guide);
                    else pha[at] = Clip(output);
                }
            }
    }

    /// <summary>ORT's bilinear sample of one plane at output (y, x), its products and sums in its order.</summary>
    private static float Sample(float* p, int w, BilinearAxis rows, BilinearAxis columns, int y, int x)
    {
        float wy1 = rows.LowWeight[y], wy2 = rows.HighWeight[y], wx1 = columns.LowWeight[x], wx2 = columns.HighWeight[x];
        float* r1 = p + (long)rows.Low[y] * w, r2 = p + (long)rows.High[y] * w;
        int x1 = columns.Low[x], x2 = columns.High[x];
        float w11 = wx1 * wy1, w21 = wx2 * wy1, w12 = wx1 * wy2, w22 = wx2 * wy2;
        return w11 * r1[x1] + w21 * r1[x2] + w12 * r2[x1] + w22 * r2[x2];
    }

    /// <summary>
    /// The specification of the op without A (the tail alone, at downsample 1, where the graph skips the DGF): B is
    /// [4, H, W] at the frame's size; Fgr = clip(B[0..2] + Src, 0, 1) and Pha = clip(B[3], 0, 1), one image.
    /// </summary>
    public static void ReferenceTail(float* b, float* src, long plane, float* fgr, float* pha)
    {
        for (long at = 0; at < plane; at++)
        {
            for (int c = 0; c < 3; c++) fgr[c * plane + at] = Clip(b[c * plane + at] + src[c * plane + at]);
            pha[at] = Clip(b[3 * plane + at]);
        }
    }

    /// <summary>
    /// Values [<paramref name="start"/>, <paramref name="end"/>) of every plane of <see cref="ReferenceTail"/>, one
    /// image, <paramref name="lanes"/> at a time (16: AVX-512F, 8: AVX2, 1): each lane the one-value path's add and
    /// clip, so all three give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tail(float* b, float* src, long plane, float* fgr, float* pha, long start, long end, int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !Avx512F.IsSupported || lanes == 8 && !Avx2.IsSupported)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs AVX-512F, 8 needs AVX2, 1 always runs");
        for (int c = 0; c < Channels; c++)
        {
            float* from = b + c * plane, guide = c < 3 ? src + c * plane : null, to = c < 3 ? fgr + c * plane : pha;
            long i = start;
            if (lanes == 16)
            {
                var zero = Vector512<float>.Zero;
                var one = Vector512.Create(1f);
                if (c < 3)
                    for (; i + 16 <= end; i += 16)
                        Vector512.MinNative(Vector512.MaxNative(Vector512.Load(from + i) + Vector512.Load(guide + i), zero), one).Store(to + i);
                else
                    for (; i + 16 <= end; i += 16)
                        Vector512.MinNative(Vector512.MaxNative(Vector512.Load(from + i), zero), one).Store(to + i);
            }
            if (lanes >= 8)
            {
                var zero = Vector256<float>.Zero;
                var one = Vector256.Create(1f);
                if (c < 3)
                    for (; i + 8 <= end; i += 8)
                        Vector256.MinNative(Vector256.MaxNative(Vector256.Load(from + i) + Vector256.Load(guide + i), zero), one).Store(to + i);
                else
                    for (; i + 8 <= end; i += 8)
                        Vector256.MinNative(Vector256.MaxNative(Vector256.Load(from + i), zero), one).Store(to + i);
            }
            for (; i < end; i++) to[i] = Clip(c < 3 ? from[i] + guide[i] : from[i]);
        }
    }

    /// <summary>clip(v, 0, 1) as ORT's Clip: max with 0, then min with 1.</summary>
    private static float Clip(float v) => MathF.Min(MathF.Max(v, 0f), 1f);

    /// <summary>Floats of scratch <see cref="Rows"/> needs for an output <paramref name="width"/>: two expanded input rows.</summary>
    public static int ScratchFloats(int width) => 2 * 2 * Planes * width;

    /// <summary>
    /// The calling thread's scratch for <see cref="Rows"/> at this width (ORT runs tasks on its pool threads, and
    /// Compute may run on several at once: nothing mutable is shared): <see cref="ThreadScratch.Rows"/>, which starts on
    /// a cache line. A pinned array of its own started 8 or 16 bytes into one, so that each 512-bit load of the expanded
    /// rows (32 a step) touched two lines: 1920×1080 frames at downsample 0.25 took 1.055 of their time so
    /// (docs/kernels.md, thirty-fifth session).
    /// </summary>
    public static float* Scratch(int width) => ThreadScratch.Rows(ScratchFloats(width));

    /// <summary>The widest column step <see cref="Rows"/> can take on this CPU: 16 (AVX-512), 8 (AVX2) or 1.</summary>
    public static int BestLanes => Avx512F.IsSupported ? 16 : Avx2.IsSupported ? 8 : 1;

    /// <summary>
    /// Output rows [<paramref name="start"/>, <paramref name="end"/>) of one image, the same values as
    /// <see cref="Reference"/>. Each input row the rows need is first expanded to the output width (the A and b values
    /// at every column's Low and High index, for all 8 planes) into <paramref name="scratch"/>
    /// (<see cref="ScratchFloats"/>); two expanded rows are kept, so with upsampling each is expanded once and
    /// reused by every output row between it and the next (4 rows at r = 0.25). The output rows then read only
    /// contiguous memory, <paramref name="lanes"/> columns per step: 16 (needs AVX-512F) or 8 (AVX2), the rows that
    /// share their two expanded rows going through <see cref="Group{TW, TV, TRows}"/> together, or 1. Every lane does
    /// the one-column path's operations, so all three give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(float* a, float* b, BilinearAxis rows, BilinearAxis columns, float* src, float* fgr, float* pha,
        int start, int end, float* scratch, int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !Avx512F.IsSupported || lanes == 8 && !Avx2.IsSupported)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs AVX-512F, 8 needs AVX2, 1 always runs");
        int h = rows.InputLength, w = columns.InputLength, width = columns.OutputLength;
        long plane = (long)rows.OutputLength * width, small = (long)h * w;
        int slotFloats = 2 * Planes * width;
        int tag0 = -1, tag1 = -1;

        float* Expanded(int row, int keep)
        {
            if (tag0 == row) return scratch;
            if (tag1 == row) return scratch + slotFloats;
            int victim = tag0 == keep && keep >= 0 ? 1 : 0;
            float* slot = scratch + victim * slotFloats;
            Expand(a, b, small, (long)row * w, columns, slot, width, lanes);
            if (victim == 0) tag0 = row;
            else tag1 = row;
            return slot;
        }

        fixed (float* lowWeight = columns.LowWeight, highWeight = columns.HighWeight, rowLow = rows.LowWeight, rowHigh = rows.HighWeight)
            for (int y = start, group; y < end; y += group)
            {
                int y1 = rows.Low[y], y2 = rows.High[y];
                float* e1 = Expanded(y1, y2);
                float* e2 = Expanded(y2, y1);
                // With vector steps, the next output rows that sample the same two input rows (up to four: all of
                // them at downsample 0.25, two or three at 0.375) go together, so that each step loads the expanded
                // rows' 32 vectors once for all of them instead of once a row: those rows (245 KB at 1920 columns) are
                // read from L2. 1920×1080 frames against one row at a time: 0.954 and 1/1.044 at downsample 0.25,
                // 0.986 at 0.375; on the AVX2 paths 0.969 and 1/1.037 (docs/kernels.md, thirty-fifth session).
                group = 1;
                // Columns [0, wide) in 16-column steps, [wide, narrow) in one 8-column step, the rest one at a time.
                int wide = lanes == 16 ? width & ~15 : 0, narrow = lanes >= 8 ? width & ~7 : 0;
                if (narrow > 0)
                {
                    while (group < 4 && y + group < end && rows.Low[y + group] == y1 && rows.High[y + group] == y2) group++;
                    var rowsAt = new GroupRows(src, fgr, pha, plane, (long)y * width, rowLow + y, rowHigh + y);
                    if (wide > 0) Group512(group, e1, e2, width, lowWeight, highWeight, rowsAt, 0, wide);
                    if (narrow > wide) Group256(group, e1, e2, width, lowWeight, highWeight, rowsAt, wide, narrow);
                }
                for (int g = 0; g < group; g++)
                    Columns(e1, e2, width, lowWeight, highWeight, rowLow[y + g], rowHigh[y + g], src, fgr, pha, plane, (long)(y + g) * width, narrow);
            }
    }

    /// <summary><see cref="Group{TW, TV, TRows}"/> at 16 lanes for <paramref name="count"/> (1–4) rows.</summary>
    private static void Group512(int count, float* e1, float* e2, int width, float* lowWeight, float* highWeight, GroupRows rows, int start, int end)
    {
        if (count == 4) Group<FloatWidth512, Vector512<float>, CountFour>(e1, e2, width, lowWeight, highWeight, rows, start, end);
        else if (count == 3) Group<FloatWidth512, Vector512<float>, CountThree>(e1, e2, width, lowWeight, highWeight, rows, start, end);
        else if (count == 2) Group<FloatWidth512, Vector512<float>, CountTwo>(e1, e2, width, lowWeight, highWeight, rows, start, end);
        else Group<FloatWidth512, Vector512<float>, CountOne>(e1, e2, width, lowWeight, highWeight, rows, start, end);
    }

    /// <summary><see cref="Group{TW, TV, TRows}"/> at 8 lanes for <paramref name="count"/> (1–4) rows.</summary>
    private static void Group256(int count, float* e1, float* e2, int width, float* lowWeight, float* highWeight, GroupRows rows, int start, int end)
    {
        if (count == 4) Group<FloatWidth256, Vector256<float>, CountFour>(e1, e2, width, lowWeight, highWeight, rows, start, end);
        else if (count == 3) Group<FloatWidth256, Vector256<float>, CountThree>(e1, e2, width, lowWeight, highWeight, rows, start, end);
        else if (count == 2) Group<FloatWidth256, Vector256<float>, CountTwo>(e1, e2, width, lowWeight, highWeight, rows, start, end);
        else Group<FloatWidth256, Vector256<float>, CountOne>(e1, e2, width, lowWeight, highWeight, rows, start, end);
    }

    /// <summary>
    /// Columns [<paramref name="x0"/>, width) of the output row at <paramref name="at"/> (its offset in a plane), one at
    /// a time, from the expanded rows <paramref name="e1"/> and <paramref name="e2"/> with the row weights
    /// <paramref name="wy1"/> and <paramref name="wy2"/>: the one-column path, whose operations each vector lane does.
    /// </summary>
    private static void Columns(float* e1, float* e2, int width, float* lowWeight, float* highWeight, float wy1, float wy2,
        float* src, float* fgr, float* pha, long plane, long at, int x0)
    {
        float* s0 = src + at, s1 = src + plane + at, s2 = src + 2 * plane + at;
        float* f0 = fgr + at, f1 = fgr + plane + at, f2 = fgr + 2 * plane + at, p = pha + at;
        for (int x = x0; x < width; x++)
        {
            float wx1 = lowWeight[x], wx2 = highWeight[x];
            float w11 = wx1 * wy1, w21 = wx2 * wy1, w12 = wx1 * wy2, w22 = wx2 * wy2;
            float g0 = s0[x], g1 = s1[x], g2 = s2[x];
            float mean = (g0 + g1 + g2) / 3f;
            for (int c = 0; c < Channels; c++)
            {
                float* la = e1 + 2 * c * width + x, lb = e1 + 2 * (c + Channels) * width + x;
                float* ha = e2 + 2 * c * width + x, hb = e2 + 2 * (c + Channels) * width + x;
                float gain = w11 * la[0] + w21 * la[width] + w12 * ha[0] + w22 * ha[width];
                float offset = w11 * lb[0] + w21 * lb[width] + w12 * hb[0] + w22 * hb[width];
                float guide = c switch { 0 => g0, 1 => g1, 2 => g2, _ => mean };
                float product = gain * guide;
                float output = product + offset;
                if (c < 3) (c == 0 ? f0 : c == 1 ? f1 : f2)[x] = Clip(output + guide);
                else p[x] = Clip(output);
            }
        }
    }

    /// <summary>A group's output rows: the first one's offset in a plane, and each row's two row weights.</summary>
    private readonly struct GroupRows(float* src, float* fgr, float* pha, long plane, long at, float* lowWeights, float* highWeights)
    {
        public float* Src { get; } = src;
        public float* Fgr { get; } = fgr;
        public float* Pha { get; } = pha;
        public long Plane { get; } = plane;
        public long At { get; } = at;
        /// <summary>Row g's weight of the lower input row at [g].</summary>
        public float* LowWeights { get; } = lowWeights;
        /// <summary>Row g's weight of the higher input row at [g].</summary>
        public float* HighWeights { get; } = highWeights;
    }

    /// <summary>
    /// Columns [<paramref name="start"/>, <paramref name="end"/>) (TW.Lanes apart) of <typeparamref name="TRows"/> consecutive output
    /// rows that sample the same expanded rows <paramref name="e1"/> and <paramref name="e2"/>: per step and channel, the
    /// eight vectors of A and b are loaded once and each row interpolates them with its own row weights. One body for
    /// both widths and the four counts; each instantiation's count is a constant, so the rows it does not have compile
    /// away. Each output is the one-column path's operations (<see cref="Columns"/>) on its lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group<TW, TV, TRows>(float* e1, float* e2, int width, float* lowWeight, float* highWeight, GroupRows rows, int start, int end)
        where TW : struct, IFloatWidth<TV> where TV : struct where TRows : struct, IConstantCount
    {
        int n = TRows.Count;
        long plane = rows.Plane, stride = width;
        var zero = TW.Create(0f);
        var low0 = TW.Create(rows.LowWeights[0]);
        var high0 = TW.Create(rows.HighWeights[0]);
        var low1 = n > 1 ? TW.Create(rows.LowWeights[1]) : zero;
        var high1 = n > 1 ? TW.Create(rows.HighWeights[1]) : zero;
        var low2 = n > 2 ? TW.Create(rows.LowWeights[2]) : zero;
        var high2 = n > 2 ? TW.Create(rows.HighWeights[2]) : zero;
        var low3 = n > 3 ? TW.Create(rows.LowWeights[3]) : zero;
        var high3 = n > 3 ? TW.Create(rows.HighWeights[3]) : zero;
        float* src = rows.Src + rows.At, fgr = rows.Fgr + rows.At, pha = rows.Pha + rows.At;
        for (int x = start; x < end; x += TW.Lanes)
        {
            var wx1 = TW.Load(lowWeight + x);
            var wx2 = TW.Load(highWeight + x);
            for (int c = 0; c < Channels; c++)
            {
                // A's values of channel c at the Low and High columns of the lower input row (la, la + width) and of the
                // higher (ha, ha + width); b's likewise.
                float* la = e1 + 2 * c * stride + x, lb = e1 + 2 * (c + Channels) * stride + x;
                float* ha = e2 + 2 * c * stride + x, hb = e2 + 2 * (c + Channels) * stride + x;
                var a = new Corners<TV>(TW.Load(la), TW.Load(la + stride), TW.Load(ha), TW.Load(ha + stride));
                var b = new Corners<TV>(TW.Load(lb), TW.Load(lb + stride), TW.Load(hb), TW.Load(hb + stride));
                Output<TW, TV>(c, a, b, wx1, wx2, low0, high0, src + x, plane, fgr + x, pha + x);
                if (n > 1) Output<TW, TV>(c, a, b, wx1, wx2, low1, high1, src + stride + x, plane, fgr + stride + x, pha + stride + x);
                if (n > 2) Output<TW, TV>(c, a, b, wx1, wx2, low2, high2, src + 2 * stride + x, plane, fgr + 2 * stride + x, pha + 2 * stride + x);
                if (n > 3) Output<TW, TV>(c, a, b, wx1, wx2, low3, high3, src + 3 * stride + x, plane, fgr + 3 * stride + x, pha + 3 * stride + x);
            }
        }
    }

    /// <summary>One plane's values at the four corners of a step's output columns: (Low, High) column of the lower input row, then of the higher.</summary>
    private readonly struct Corners<TV>(TV lowLow, TV lowHigh, TV highLow, TV highHigh) where TV : struct
    {
        public TV LowLow { get; } = lowLow;
        public TV LowHigh { get; } = lowHigh;
        public TV HighLow { get; } = highLow;
        public TV HighHigh { get; } = highHigh;
    }

    /// <summary>
    /// Channel <paramref name="c"/> of one step's columns of one output row (<paramref name="src"/>, <paramref name="fgr"/>
    /// and <paramref name="pha"/> at its first column, channel 0): A and b interpolated from their corners as
    /// <see cref="Sample"/> does, then fgr = clip(A·src + b + src, 0, 1) or, for c = 3, pha = clip(A·mean + b, 0, 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Output<TW, TV>(int c, Corners<TV> a, Corners<TV> b, TV wx1, TV wx2, TV wy1, TV wy2, float* src, long plane, float* fgr, float* pha)
        where TW : struct, IFloatWidth<TV> where TV : struct
    {
        var w11 = TW.Multiply(wx1, wy1);
        var w21 = TW.Multiply(wx2, wy1);
        var w12 = TW.Multiply(wx1, wy2);
        var w22 = TW.Multiply(wx2, wy2);
        var gain = TW.Add(TW.Add(TW.Add(TW.Multiply(w11, a.LowLow), TW.Multiply(w21, a.LowHigh)), TW.Multiply(w12, a.HighLow)), TW.Multiply(w22, a.HighHigh));
        var offset = TW.Add(TW.Add(TW.Add(TW.Multiply(w11, b.LowLow), TW.Multiply(w21, b.LowHigh)), TW.Multiply(w12, b.HighLow)), TW.Multiply(w22, b.HighHigh));
        if (c < 3)
        {
            var guide = TW.Load(src + c * plane);
            TW.Store(Clip<TW, TV>(TW.Add(TW.Add(TW.Multiply(gain, guide), offset), guide)), fgr + c * plane);
        }
        else
        {
            var mean = TW.Divide(TW.Add(TW.Add(TW.Load(src), TW.Load(src + plane)), TW.Load(src + 2 * plane)), TW.Create(3f));
            TW.Store(Clip<TW, TV>(TW.Add(TW.Multiply(gain, mean), offset)), pha);
        }
    }

    /// <summary>clip(v, 0, 1) on each lane as the vector paths have it: max with 0, then min with 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Clip<TW, TV>(TV v) where TW : struct, IFloatWidth<TV> where TV : struct =>
        TW.Min(TW.Max(v, TW.Create(0f)), TW.Create(1f));

    /// <summary>
    /// Input row <paramref name="rowOffset"/>/w of all 8 planes sampled at every output column: plane k's values at
    /// Low go to slot + 2k·width, at High to slot + (2k + 1)·width.
    /// </summary>
    /// <remarks>
    /// Low and High never decrease along the axis (<see cref="BilinearAxis"/>), so when upsampling the 16 (or 8) columns
    /// of one step read a window of fewer than 16 (8) consecutive inputs: one load of the window and one in-register
    /// permute (<c>vpermps</c>) per index list. A step whose window is wider (downsampling), or a row narrower than the
    /// vector, goes one column at a time. Gathers did the same with AVX2 until 2026-12-02; on Intel hosts with the
    /// gather-data-sampling mitigation they are several times slower than a load and a permute.
    /// </remarks>
    private static void Expand(float* a, float* b, long small, long rowOffset, BilinearAxis columns, float* slot, int width, int lanes)
    {
        int w = columns.InputLength;
        fixed (int* low = columns.Low, high = columns.High)
            for (int k = 0; k < Planes; k++)
            {
                float* row = (k < Channels ? a + k * small : b + (k - Channels) * small) + rowOffset;
                float* toLow = slot + 2 * k * width, toHigh = toLow + width;
                int x = 0;
                if (lanes == 16 && w >= 16)
                    for (; x + 16 <= width; x += 16)
                    {
                        // The window starts at the step's first Low, moved left where it would run past the row's end.
                        int window = Math.Min(low[x], w - 16);
                        if (high[x + 15] - window >= 16) { One(row, low, high, toLow, toHigh, x, x + 16); continue; }
                        var values = Vector512.Load(row + window);
                        var first = Vector512.Create(window);
                        Avx512F.PermuteVar16x32(values, Vector512.Load(low + x) - first).Store(toLow + x);
                        Avx512F.PermuteVar16x32(values, Vector512.Load(high + x) - first).Store(toHigh + x);
                    }
                if (lanes >= 8 && w >= 8)
                    for (; x + 8 <= width; x += 8)
                    {
                        int window = Math.Min(low[x], w - 8);
                        if (high[x + 7] - window >= 8) { One(row, low, high, toLow, toHigh, x, x + 8); continue; }
                        var values = Vector256.Load(row + window);
                        var first = Vector256.Create(window);
                        Avx2.PermuteVar8x32(values, Vector256.Load(low + x) - first).Store(toLow + x);
                        Avx2.PermuteVar8x32(values, Vector256.Load(high + x) - first).Store(toHigh + x);
                    }
                One(row, low, high, toLow, toHigh, x, width);
            }
    }

    /// <summary>Columns [<paramref name="from"/>, <paramref name="to"/>) of <see cref="Expand"/>, one at a time.</summary>
    private static void One(float* row, int* low, int* high, float* toLow, float* toHigh, int from, int to)
    {
        for (int x = from; x < to; x++)
        {
            toLow[x] = row[low[x]];
            toHigh[x] = row[high[x]];
        }
    }
}
