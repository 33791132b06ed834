using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.Upsampling;

/// <summary>
/// Bilinear ×2 of one channel plane, cropped to its top-left corner, computed as ONNX Runtime's CPU Resize computes
/// it (linear, pytorch_half_pixel, scales [1, 1, 2, 2]; onnxruntime/core/providers/cpu/tensor/upsample.cc,
/// SetupUpsampleBilinear and UpsampleBilinear), so that the fused op gives the unfused graph's bits and no sign a
/// binary conv takes from it can move. Per output axis index o (output length 2·n):
/// <code>
///   c = clamp((o + 0.5)/2 − 0.5, 0, n − 1)   lo = min(⌊c⌋, n − 1)   hi = min(lo + 1, n − 1)
///   weight(lo) = |c − hi|, weight(hi) = |c − lo|, both 0.5 where lo = hi
///   y = (wx(lo)·wy(lo))·X[lo_y, lo_x] + (wx(hi)·wy(lo))·X[lo_y, hi_x] + (wx(lo)·wy(hi))·X[hi_y, lo_x] + (wx(hi)·wy(hi))·X[hi_y, hi_x]
/// </code>
/// summed left to right, each product and sum rounded to float32 once (no fused multiply-add: ORT's portable C++
/// build does not contract there, and .NET never contracts). The weight products are exact (every weight is one of
/// 0, 1/4, 1/2, 3/4, 1), so precomputing them changes nothing. Away from the borders the weights are 3/4 and 1/4 on
/// both axes and output columns 2j + 1 and 2j + 2 read input columns j and j + 1: the vector path computes sixteen
/// (AVX-512) or eight (AVX) such pairs at once and interleaves them; borders, crop edges and tails take the scalar
/// path, the same formula.
/// </summary>
internal static unsafe class Upsample2x
{
    /// <summary>One output value, the specification (the scalar path and the tests' oracle).</summary>
    public static float One(float* x, int inWidth, BilinearAxis ys, BilinearAxis xs, int oy, int ox)
    {
        float* lo = x + (long)ys.Low[oy] * inWidth, hi = x + (long)ys.High[oy] * inWidth;
        return xs.LowWeight[ox] * ys.LowWeight[oy] * lo[xs.Low[ox]]
             + xs.HighWeight[ox] * ys.LowWeight[oy] * lo[xs.High[ox]]
             + xs.LowWeight[ox] * ys.HighWeight[oy] * hi[xs.Low[ox]]
             + xs.HighWeight[ox] * ys.HighWeight[oy] * hi[xs.High[ox]];
    }

    /// <summary>
    /// Pairs of output columns per vector step on this CPU: 16 where .NET accelerates 512-bit vectors (it does not on
    /// AVX-512 parts that slow down under them, though they run the instructions), 8 (AVX) or 1 (the scalar path).
    /// </summary>
    public static int BestLanes => Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 16 : Avx.IsSupported ? 8 : 1;

    /// <summary>
    /// Writes the ys.OutputLength × xs.OutputLength cropped ×2 upsampling of plane <paramref name="x"/> (inWidth columns) to
    /// <paramref name="y"/> (row stride xs.OutputLength), <paramref name="lanes"/> column pairs per vector step (16, 8, or
    /// 1 for the scalar path; tests run each the CPU has).
    /// </summary>
    public static void Plane(float* x, int inWidth, BilinearAxis ys, BilinearAxis xs, float* y, int lanes) =>
        Rows(x, inWidth, ys, xs, 0, ys.OutputLength, y, lanes);

    /// <summary>Output rows [<paramref name="start"/>, <paramref name="end"/>) of <see cref="Plane"/> alone, row <paramref name="start"/> written at <paramref name="y"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(float* x, int inWidth, BilinearAxis ys, BilinearAxis xs, int start, int end, float* y, int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !Avx512F.IsSupported || lanes == 8 && !Avx.IsSupported)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs AVX-512F, 8 needs AVX, 1 always runs");
        int outWidth = xs.OutputLength;
        for (int oy = start; oy < end; oy++)
            Row(x + (long)ys.Low[oy] * inWidth, x + (long)ys.High[oy] * inWidth, ys.LowWeight[oy], ys.HighWeight[oy], inWidth, xs, y + (long)(oy - start) * outWidth, lanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(float* lo, float* hi, float wLo, float wHi, int inWidth, BilinearAxis xs, float* y, int lanes)
    {
        int outWidth = xs.OutputLength;
        int ox = 0;
        if (lanes > 1 && outWidth > 0)
        {
            y[0] = Scalar(lo, hi, wLo, wHi, xs, 0);
            ox = 1;
            // Output 2j + 1: 3/4 of column j, 1/4 of j + 1; output 2j + 2: 1/4 of j, 3/4 of j + 1 (both rows alike).
            // Sixteen (eight) j at a time while columns j + 16 (j + 8) and outputs 2j + 32 (2j + 16) exist.
            int j = 0;
            if (lanes == 16)
            {
                var oddLo16 = Vector512.Create(0.75f * wLo);
                var oddLoNext16 = Vector512.Create(0.25f * wLo);
                var oddHi16 = Vector512.Create(0.75f * wHi);
                var oddHiNext16 = Vector512.Create(0.25f * wHi);
                // Output 2k holds odd[k], 2k + 1 holds even[k]: indices 0–15 pick from odd, 16–31 from even.
                var first = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                var second = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                for (; j + 16 <= inWidth - 1 && 2 * j + 33 <= outWidth; j += 16)
                {
                    var a = Vector512.Load(lo + j);
                    var b = Vector512.Load(lo + j + 1);
                    var c = Vector512.Load(hi + j);
                    var d = Vector512.Load(hi + j + 1);
                    var odd = a * oddLo16 + b * oddLoNext16 + c * oddHi16 + d * oddHiNext16;
                    var even = a * oddLoNext16 + b * oddLo16 + c * oddHiNext16 + d * oddHi16;
                    Avx512F.PermuteVar16x32x2(odd, first, even).Store(y + 2 * j + 1);
                    Avx512F.PermuteVar16x32x2(odd, second, even).Store(y + 2 * j + 17);
                }
            }
            var oddLo = Vector256.Create(0.75f * wLo);
            var oddLoNext = Vector256.Create(0.25f * wLo);
            var oddHi = Vector256.Create(0.75f * wHi);
            var oddHiNext = Vector256.Create(0.25f * wHi);
            for (; j + 8 <= inWidth - 1 && 2 * j + 17 <= outWidth; j += 8) EightPairs(lo, hi, j, oddLo, oddLoNext, oddHi, oddHiNext, y);
            // The columns left (up to eight) as one more step of eight ending at the last full pair: it repeats outputs
            // already written with the same values, and leaves one or two edge outputs to the scalar path instead
            // of up to seventeen (a 512-wide row spent a quarter of its time there).
            int last = Math.Min(inWidth - 9, (outWidth - 17) >> 1);
            if (last >= 0 && last + 8 > j)
            {
                EightPairs(lo, hi, last, oddLo, oddLoNext, oddHi, oddHiNext, y);
                j = last + 8;
            }
            ox = 2 * j + 1;
        }
        for (; ox < outWidth; ox++) y[ox] = Scalar(lo, hi, wLo, wHi, xs, ox);
    }

    /// <summary>Outputs 2j + 1 … 2j + 16 from columns j … j + 8 of both input rows (the weights pre-multiplied by the rows').</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EightPairs(float* lo, float* hi, int j, Vector256<float> oddLo, Vector256<float> oddLoNext, Vector256<float> oddHi, Vector256<float> oddHiNext, float* y)
    {
        var a = Vector256.Load(lo + j);
        var b = Vector256.Load(lo + j + 1);
        var c = Vector256.Load(hi + j);
        var d = Vector256.Load(hi + j + 1);
        // Same products and the same left-to-right sums as One; the "next" weights swap roles for even outputs.
        var odd = a * oddLo + b * oddLoNext + c * oddHi + d * oddHiNext;
        var even = a * oddLoNext + b * oddLo + c * oddHiNext + d * oddHi;
        var low = Avx.UnpackLow(odd, even);   // o0 e0 o1 e1 | o4 e4 o5 e5
        var high = Avx.UnpackHigh(odd, even); // o2 e2 o3 e3 | o6 e6 o7 e7
        Avx.Permute2x128(low, high, 0x20).Store(y + 2 * j + 1);
        Avx.Permute2x128(low, high, 0x31).Store(y + 2 * j + 9);
    }

    /// <summary>Output <paramref name="ox"/> of the row between input rows <paramref name="lo"/> and <paramref name="hi"/> (weights <paramref name="wLo"/>, <paramref name="wHi"/>): <see cref="One"/>'s products and sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scalar(float* lo, float* hi, float wLo, float wHi, BilinearAxis xs, int ox) => Scalar(lo, hi, ColumnTaps.Of(xs, ox, wLo, wHi));

    /// <summary><see cref="Scalar(float*, float*, float, float, BilinearAxis, int)"/> with the column's taps taken once (for every channel of a pixel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scalar(float* lo, float* hi, in ColumnTaps t) =>
        t.LowNear * lo[t.Low] + t.LowFar * lo[t.High] + t.HighNear * hi[t.Low] + t.HighFar * hi[t.High];

    /// <summary>
    /// Output column ox's two input columns and the four weights of its products, x weight times row weight as
    /// <see cref="One"/> forms them ((x·y)·value, rounded as there).
    /// </summary>
    internal readonly struct ColumnTaps(int low, int high, float lowNear, float lowFar, float highNear, float highFar)
    {
        public int Low { get; } = low;
        public int High { get; } = high;
        /// <summary>The x axis's low weight times the low row's weight; <see cref="LowFar"/> the high column's with it; High… the high row's.</summary>
        public float LowNear { get; } = lowNear;
        public float LowFar { get; } = lowFar;
        public float HighNear { get; } = highNear;
        public float HighFar { get; } = highFar;

        public static ColumnTaps Of(BilinearAxis xs, int ox, float wLo, float wHi)
        {
            float xl = xs.LowWeight[ox], xh = xs.HighWeight[ox];
            return new ColumnTaps(xs.Low[ox], xs.High[ox], xl * wLo, xh * wLo, xl * wHi, xh * wHi);
        }
    }
}
