using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Last stage: dot = Cin·taps − 2·raw from the kernel's raw count, then Y = alpha[co] · dot + bias[co] in float32, in
/// that order (one multiply, then one add, no fused multiply-add), the same two roundings as the lowered graph's Mul
/// then Add. alpha may be negative (folded BN). For border pixels <see cref="ZeroPaddingCorrection.Transform"/> passes
/// Cin·taps + δ in place of Cin·taps (δ: the padded taps' correction, the same for a run of pixels).
/// </summary>
internal static unsafe class OutputTransform
{
    /// <summary>One output from its exact integer dot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float One(int dot, float alpha, float bias)
    {
        float product = dot * alpha;
        return product + bias;
    }

    /// <summary>
    /// <see cref="Apply"/> for output channels [0, <paramref name="channels"/>): channel co's raw counts at
    /// <paramref name="raw"/> + co·<paramref name="rawStride"/>, its outputs at <paramref name="output"/> +
    /// co·<paramref name="outputStride"/>, with Cin·taps = <paramref name="fullTaps"/> + <paramref name="delta"/>[co] (no δ
    /// where null), alpha[co] and bias[co]: the same values. Where a row has 16 outputs or more and the CPU runs 512-bit
    /// vectors (8 or more and 256-bit vectors; 4 or more and 128-bit vectors where the rows are not a plane's), one loop
    /// over the channels without a call and its set-up per channel: a 32-pixel row of a 256- or 1024-channel layer is two
    /// vectors per channel, and the call per channel cost as much as they did.
    /// </summary>
    /// <param name="fetchAhead">Whether the rows are rows of channel planes, whose rows two on are fetched as these are written (<see cref="FetchesAhead"/>).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyChannels(int* raw, long rawStride, int count, int fullTaps, int* delta, float* alpha, float* bias, int channels,
        float* output, long outputStride, bool fetchAhead)
    {
        if (Vector512.IsHardwareAccelerated && count >= 16)
        {
            // Each channel's row two rows on fetched into L2 as this one is written (a dense conv's segment is a whole
            // output row, or the rest of one: RowPrefetch), a line per vector inside the row's loop: 0.994 and 1/1.006
            // of a frame against a loop of its own before the row (twenty-third session). Only where the caller says
            // the rows are a plane's (FetchesAhead).
            for (int co = 0; co < channels; co++)
                Row512(raw + co * rawStride, count, delta == null ? fullTaps : fullTaps + delta[co], alpha[co], bias[co], output + co * outputStride, fetchAhead);
            return;
        }
        if (Vector256.IsHardwareAccelerated && count >= 8)
        {
            // Pieces of 8 to 15 (a sparse row's active cells at mask_scale 8) or AVX2 rows: the same, 256 bits wide
            // (0.994 of a 512×288 frame on Zen 4, where decode1's sparse rows are pieces of 8).
            for (int co = 0; co < channels; co++)
                Row256(raw + co * rawStride, count, delta == null ? fullTaps : fullTaps + delta[co], alpha[co], bias[co], output + co * outputStride);
            return;
        }
        if (Vector128.IsHardwareAccelerated && count >= 4 && !fetchAhead)
        {
            // Pieces of 4 to 7 (a sparse row's active cells at mask_scale 4) in rows of their own (a glue's folded sparse
            // conv): the same, 128 bits wide, where a call and a scalar loop per channel had cost more than the outputs
            // (the folded 64 → 64 kernel benchmark's sparse part 0.79 of its time, Zen 5). Not into channel planes (the
            // sparse conv node's output): there the vector stores, a plane apart, ran 1.13× slower than the scalar loop's
            // (the same benchmark, in one process), and a masked 512-bit store a channel slower still.
            for (int co = 0; co < channels; co++)
                Row128(raw + co * rawStride, count, delta == null ? fullTaps : fullTaps + delta[co], alpha[co], bias[co], output + co * outputStride);
            return;
        }
        for (int co = 0; co < channels; co++)
            Apply(raw + co * rawStride, count, delta == null ? fullTaps : fullTaps + delta[co], alpha[co], bias[co], output + co * outputStride);
    }

    /// <summary><see cref="Row512"/> 128 bits wide, for 4 ≤ <paramref name="count"/> &lt; 8 outputs: the first four, then the last four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row128(int* raw, int count, int fullTaps, float alpha, float bias, float* output)
    {
        var full = Vector128.Create(fullTaps);
        var a = Vector128.Create(alpha);
        var b = Vector128.Create(bias);
        (Vector128.ConvertToSingle(full - Vector128.ShiftLeft(Vector128.Load(raw), 1)) * a + b).Store(output);
        int last = count - 4;
        if (last == 0) return;
        (Vector128.ConvertToSingle(full - Vector128.ShiftLeft(Vector128.Load(raw + last), 1)) * a + b).Store(output + last);
    }

    /// <summary>
    /// The vector width <see cref="ApplyChannelsWithEdges"/> takes for a row of <paramref name="count"/> outputs: 16 where
    /// the CPU runs 512-bit vectors and the row has 16 or more, 8 with 256-bit vectors and 8 or more, else 0 (not taken).
    /// </summary>
    public static int EdgeLanes(int count) =>
        Vector512.IsHardwareAccelerated && count >= 16 ? 16 : !Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated && count >= 8 ? 8 : 0;

    /// <summary>
    /// A dense row's border columns inside its first and last vectors (<see cref="ApplyChannelsWithEdges"/>): the first
    /// vector's lanes below <see cref="LeftEnd"/> and the last one's from <see cref="RightStart"/> on (0 and the vector's
    /// width: none).
    /// </summary>
    public readonly record struct Edges(int LeftEnd, int RightStart);

    /// <summary>
    /// <see cref="ApplyChannels"/> for a dense row whose border columns lie in its first and last vectors of
    /// <see cref="EdgeLanes"/> outputs (<paramref name="edges"/>): those lanes take their piece's Cin·taps + δ,
    /// <paramref name="fullTaps"/> + <paramref name="leftDelta"/>[co] or + <paramref name="rightDelta"/>[co] (null: + 0),
    /// blended into the vector that the others take, <paramref name="fullTaps"/> + <paramref name="delta"/>[co]. The same
    /// values as <see cref="Apply"/> per column with that column's Cin·taps + δ; the border columns are not written a
    /// second time, one by one, after the row (a 128-pixel row of 64 channels had left their lines, in planes 36 KB
    /// apart, out of L1 by then: the 64 → 64 layer 0.32 → 0.26 ms, docs/kernels.md, twenty-ninth session).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyChannelsWithEdges(int* raw, long rawStride, int count, int fullTaps, int* delta, Edges edges, int* leftDelta, int* rightDelta,
        float* alpha, float* bias, int channels, float* output, long outputStride, bool fetchAhead)
    {
        if (Vector512.IsHardwareAccelerated && count >= 16)
        {
            // Where the first and last vectors overlap (count < 32) the last, stored after the first, holds the left
            // border's lanes too.
            var lane = Vector512<int>.Indices;
            int shift = count - 16;
            var firstLeft = Vector512.LessThan(lane, Vector512.Create(edges.LeftEnd));
            var lastLeft = Vector512.LessThan(lane, Vector512.Create(edges.LeftEnd - shift));
            var lastRight = Vector512.GreaterThanOrEqual(lane, Vector512.Create(edges.RightStart));
            for (int co = 0; co < channels; co++)
            {
                int full = delta == null ? fullTaps : fullTaps + delta[co];
                int leftFull = leftDelta == null ? fullTaps : fullTaps + leftDelta[co];
                int rightFull = rightDelta == null ? fullTaps : fullTaps + rightDelta[co];
                Vector512<int> l = Vector512.Create(leftFull), r = Vector512.Create(rightFull), m = Vector512.Create(full);
                Row512Edges(raw + co * rawStride, count, full, Vector512.ConditionalSelect(firstLeft, l, m),
                    Vector512.ConditionalSelect(lastLeft, l, Vector512.ConditionalSelect(lastRight, r, m)), alpha[co], bias[co], output + co * outputStride, fetchAhead);
            }
            return;
        }
        if (Vector256.IsHardwareAccelerated && count >= 8)
        {
            // Where the first and last vectors overlap (count < 16) the last, stored after the first, holds the left
            // border's lanes too.
            var lane = Vector256<int>.Indices;
            int shift = count - 8;
            var firstLeft = Vector256.LessThan(lane, Vector256.Create(edges.LeftEnd));
            var lastLeft = Vector256.LessThan(lane, Vector256.Create(edges.LeftEnd - shift));
            var lastRight = Vector256.GreaterThanOrEqual(lane, Vector256.Create(edges.RightStart));
            for (int co = 0; co < channels; co++)
            {
                int full = delta == null ? fullTaps : fullTaps + delta[co];
                int leftFull = leftDelta == null ? fullTaps : fullTaps + leftDelta[co];
                int rightFull = rightDelta == null ? fullTaps : fullTaps + rightDelta[co];
                Vector256<int> l = Vector256.Create(leftFull), r = Vector256.Create(rightFull), m = Vector256.Create(full);
                Row256Edges(raw + co * rawStride, count, full, Vector256.ConditionalSelect(firstLeft, l, m),
                    Vector256.ConditionalSelect(lastLeft, l, Vector256.ConditionalSelect(lastRight, r, m)), alpha[co], bias[co], output + co * outputStride);
            }
            return;
        }
        throw new ArgumentOutOfRangeException(nameof(count), count, "a row with border lanes needs a vector of outputs (EdgeLanes)");
    }

    /// <summary>
    /// Whether <see cref="ApplyChannels"/> should fetch each channel's row two rows on: only where the rows it writes are
    /// rows of channel planes (<paramref name="channelStride"/>, the distance between two channels' rows, at least four
    /// rows of <paramref name="rowWidth"/>: a conv's output tensor). A conv's rows computed into the thread's scratch
    /// (SHB's sparse pieces and the ConvGRU's gates, channelStride = the row's width) are in L1 already, and there "two
    /// rows on" is another channel's scratch or past it, lines fetched for nothing: frames 0.992 and 1/1.007 without those
    /// fetches (Zen 5, twenty-eighth session).
    /// </summary>
    internal static bool FetchesAhead(long channelStride, int rowWidth) => channelStride >= 4L * rowWidth;

    /// <summary>
    /// <see cref="Apply"/>'s 512-bit path for <paramref name="count"/> ≥ 16 outputs: whole vectors, the last one ending at
    /// the last output (where count is not a multiple of 16 it repeats outputs already written, with the same values);
    /// with <paramref name="ahead"/>, each vector's line of the same channel's row two rows on fetched into L2
    /// (<see cref="RowPrefetch.Line"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row512(int* raw, int count, int fullTaps, float alpha, float bias, float* output, bool ahead = false)
    {
        var full = Vector512.Create(fullTaps);
        var a = Vector512.Create(alpha);
        var b = Vector512.Create(bias);
        int last = count - 16;
        for (int i = 0; i < last; i += 16)
        {
            if (ahead) RowPrefetch.Line(output, count, i);
            var product = Vector512.ConvertToSingle(full - Vector512.ShiftLeft(Vector512.Load(raw + i), 1)) * a;
            (product + b).Store(output + i);
        }
        if (ahead) RowPrefetch.Line(output, count, last);
        var tail = Vector512.ConvertToSingle(full - Vector512.ShiftLeft(Vector512.Load(raw + last), 1)) * a;
        (tail + b).Store(output + last);
    }

    /// <summary>
    /// <see cref="Row512"/> with the first vector's Cin·taps + δ per lane in <paramref name="left"/> and the last one's in
    /// <paramref name="right"/> (where the two vectors are one, or overlap, the last is stored after the first and holds
    /// every lane's own).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row512Edges(int* raw, int count, int fullTaps, Vector512<int> left, Vector512<int> right, float alpha, float bias, float* output, bool ahead)
    {
        var full = Vector512.Create(fullTaps);
        var a = Vector512.Create(alpha);
        var b = Vector512.Create(bias);
        int last = count - 16;
        if (ahead) RowPrefetch.Line(output, count, 0);
        var first = Vector512.ConvertToSingle(left - Vector512.ShiftLeft(Vector512.Load(raw), 1)) * a;
        (first + b).Store(output);
        for (int i = 16; i < last; i += 16)
        {
            if (ahead) RowPrefetch.Line(output, count, i);
            var product = Vector512.ConvertToSingle(full - Vector512.ShiftLeft(Vector512.Load(raw + i), 1)) * a;
            (product + b).Store(output + i);
        }
        if (ahead) RowPrefetch.Line(output, count, last);
        var tail = Vector512.ConvertToSingle(right - Vector512.ShiftLeft(Vector512.Load(raw + last), 1)) * a;
        (tail + b).Store(output + last);
    }

    /// <summary><see cref="Row512Edges"/> 256 bits wide, for <paramref name="count"/> ≥ 8 outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row256Edges(int* raw, int count, int fullTaps, Vector256<int> left, Vector256<int> right, float alpha, float bias, float* output)
    {
        var full = Vector256.Create(fullTaps);
        var a = Vector256.Create(alpha);
        var b = Vector256.Create(bias);
        int last = count - 8;
        var first = Vector256.ConvertToSingle(left - Vector256.Load(raw) * 2) * a;
        (first + b).Store(output);
        for (int i = 8; i < last; i += 8)
        {
            var product = Vector256.ConvertToSingle(full - Vector256.Load(raw + i) * 2) * a;
            (product + b).Store(output + i);
        }
        var tail = Vector256.ConvertToSingle(right - Vector256.Load(raw + last) * 2) * a;
        (tail + b).Store(output + last);
    }

    /// <summary><see cref="Row512"/> 256 bits wide, for <paramref name="count"/> ≥ 8 outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row256(int* raw, int count, int fullTaps, float alpha, float bias, float* output)
    {
        var full = Vector256.Create(fullTaps);
        var a = Vector256.Create(alpha);
        var b = Vector256.Create(bias);
        int last = count - 8;
        for (int i = 0; i < last; i += 8)
        {
            var product = Vector256.ConvertToSingle(full - Vector256.Load(raw + i) * 2) * a;
            (product + b).Store(output + i);
        }
        var tail = Vector256.ConvertToSingle(full - Vector256.Load(raw + last) * 2) * a;
        (tail + b).Store(output + last);
    }

    /// <summary>Writes <paramref name="count"/> consecutive outputs from raw counts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(int* raw, int count, int fullTaps, float alpha, float bias, float* output)
    {
        if (Vector512.IsHardwareAccelerated && count >= 16)
        {
            // Done without the narrower paths' set-up (a 32-pixel row of a 256-channel layer is two vectors a channel;
            // 0.995 of a 512×288 frame on Zen 4).
            Row512(raw, count, fullTaps, alpha, bias, output);
            return;
        }
        if (Vector256.IsHardwareAccelerated && count >= 8)
        {
            Row256(raw, count, fullTaps, alpha, bias, output);
            return;
        }
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // Runs of 4: a sparse row's active mask cells at mask_scale 4.
            var full = Vector128.Create(fullTaps);
            var a = Vector128.Create(alpha);
            var b = Vector128.Create(bias);
            for (; i + 4 <= count; i += 4)
            {
                var product = Vector128.ConvertToSingle(full - Vector128.Load(raw + i) * 2) * a;
                (product + b).Store(output + i);
            }
        }
        for (; i < count; i++) output[i] = One(fullTaps - 2 * raw[i], alpha, bias);
    }
}
