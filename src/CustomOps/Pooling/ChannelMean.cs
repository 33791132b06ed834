using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Pooling;

/// <summary>
/// The mean of each channel plane (ONNX GlobalAveragePool), computed as ONNX Runtime's CPU kernel computes it in NCHW
/// (MLAS's global pooling kernel, onnxruntime/core/mlas/lib/pooling.cpp), so that a fused graph gives the unfused one's
/// bits: four running sums, lane k adding the plane's values k, k + 4, k + 8, … in order over its first 4·⌊n/4⌋ values;
/// then (s0 + s2) + (s1 + s3); then the last n mod 4 values one by one; then that sum divided by (float)n. Each
/// operation rounds once to float32.
/// </summary>
/// <remarks>
/// Why an op of ours: MLAS runs that loop one plane after the other, each plane's 144 additions (576 values, BiVM's
/// LR-ASPP pool at 512×288) a chain of dependent 4-wide adds, so a 1024-channel pool waits on add latency (0.09–0.11 ms
/// of a frame in ONNX Runtime's profile). <see cref="Planes"/> keeps the same order per plane but runs <see cref="Interleave"/> planes'
/// chains side by side, in the same instructions (128-bit adds are the same IEEE additions).
/// </remarks>
internal static unsafe class ChannelMean
{
    /// <summary>Planes whose running sums are advanced together (independent chains, to cover the adds' latency).</summary>
    public const int Interleave = 8;

    /// <summary>The mean of the <paramref name="count"/> values at <paramref name="x"/>, the specification (the scalar path and the tests' oracle).</summary>
    public static float One(float* x, long count)
    {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        long i = 0;
        for (; i + 4 <= count; i += 4)
        {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        float sum = (s0 + s2) + (s1 + s3);
        for (; i < count; i++) sum += x[i];
        return sum / (float)count;
    }

    /// <summary>
    /// y[p] = the mean of plane p (<paramref name="count"/> values at <paramref name="x"/> + p·count) for p in
    /// [<paramref name="first"/>, <paramref name="first"/> + <paramref name="planes"/>), in <see cref="One"/>'s order,
    /// <see cref="Interleave"/> planes at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Planes(float* x, long count, int first, int planes, float* y)
    {
        int p = first, end = first + planes;
        for (; p + Interleave <= end; p += Interleave) Eight(x + p * count, count, y + p);
        for (; p < end; p++) y[p] = One(x + p * count, count);
    }

    /// <summary>Eight planes' means, their four-lane running sums side by side.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eight(float* x, long count, float* y)
    {
        var a0 = Vector128<float>.Zero; var a1 = Vector128<float>.Zero; var a2 = Vector128<float>.Zero; var a3 = Vector128<float>.Zero;
        var a4 = Vector128<float>.Zero; var a5 = Vector128<float>.Zero; var a6 = Vector128<float>.Zero; var a7 = Vector128<float>.Zero;
        float* x0 = x, x1 = x + count, x2 = x + 2 * count, x3 = x + 3 * count, x4 = x + 4 * count, x5 = x + 5 * count, x6 = x + 6 * count, x7 = x + 7 * count;
        long i = 0;
        for (; i + 4 <= count; i += 4)
        {
            a0 += Vector128.Load(x0 + i); a1 += Vector128.Load(x1 + i); a2 += Vector128.Load(x2 + i); a3 += Vector128.Load(x3 + i);
            a4 += Vector128.Load(x4 + i); a5 += Vector128.Load(x5 + i); a6 += Vector128.Load(x6 + i); a7 += Vector128.Load(x7 + i);
        }
        y[0] = Finish(a0, x0, i, count); y[1] = Finish(a1, x1, i, count); y[2] = Finish(a2, x2, i, count); y[3] = Finish(a3, x3, i, count);
        y[4] = Finish(a4, x4, i, count); y[5] = Finish(a5, x5, i, count); y[6] = Finish(a6, x6, i, count); y[7] = Finish(a7, x7, i, count);
    }

    /// <summary>A plane's four running sums reduced as MLAS reduces them, its last values added one by one, divided by the count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector128<float> sums, float* x, long i, long count)
    {
        float sum = (sums.GetElement(0) + sums.GetElement(2)) + (sums.GetElement(1) + sums.GetElement(3));
        for (; i < count; i++) sum += x[i];
        return sum / (float)count;
    }
}
