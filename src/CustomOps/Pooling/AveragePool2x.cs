using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.Pooling;

/// <summary>
/// The 2×2, stride-2 average pooling of one channel plane, computed as ONNX Runtime's CPU AveragePool computes it
/// (MLAS, onnxruntime/core/mlas/lib/pooling.cpp; no pads, count_include_pad 0), so that a fused graph gives the
/// unfused one's bits. MLAS has two kernels for it, and which one runs depends on the input's width:
/// <list type="bullet">
/// <item>up to <see cref="VectorKernelMaxWidth"/> columns (MlasPool2DVectorKernel): the window's columns summed
/// first, then the two column sums, s(j) = X[2i, j] + X[2i + 1, j] and y = (s(2j) + s(2j + 1)) / n; a window cut by
/// the last row has s(j) = X[2i, j] (no addition), one cut by the last column adds the buffer's padding,
/// s(2j) + 0 (so −0 becomes +0);</item>
/// <item>wider (MlasPool2DKernel): ((((0 + X[2i, 2j]) + X[2i, 2j + 1]) + X[2i + 1, 2j]) + X[2i + 1, 2j + 1]) / n, over the
/// window's values that exist;</item>
/// </list>
/// Where ONNX Runtime pools in its blocked NCHWc layout (channel counts in multiples of its block: 8 with AVX2, 16
/// with AVX-512), its kernels (SpoolKernelAvxCommon.h, the same macro for both) add the window row by row in the second
/// order at every width: <c>rowOrder</c> selects it (measured against ORT 1.31.1 at level ALL on an AVX-512 host:
/// every output of 16- to 128-channel planes, with terms of 1e7 that tell the orders apart).
/// n the count of values in the window (4, or 2 and 1 where ceil_mode cuts it). Each operation rounds once to
/// float32; y / n equals y · (1/n) here, n being a power of two.
/// </summary>
internal static unsafe class AveragePool2x
{
    /// <summary>The widest input MLAS reduces with its vector kernel (its 2048-float buffer less 3 floats of over-read).</summary>
    public const int VectorKernelMaxWidth = 2048 - 3;

    /// <summary>Output rows: ⌈H/2⌉ with <paramref name="ceilMode"/>, ⌊H/2⌋ without (and likewise columns).</summary>
    public static long OutputLength(long input, bool ceilMode) => ceilMode ? (input + 1) / 2 : input / 2;

    /// <summary>One output, the specification (the scalar path and the tests' oracle); <paramref name="rowOrder"/>: row by row at every width.</summary>
    public static float One(float* x, int height, int width, int i, int j, bool rowOrder = false)
    {
        float* top = x + (long)2 * i * width;
        bool twoRows = 2 * i + 1 < height, twoColumns = 2 * j + 1 < width;
        float count = (twoRows ? 2 : 1) * (twoColumns ? 2 : 1);
        if (rowOrder || width > VectorKernelMaxWidth)
        {
            float m = 0f + top[2 * j];
            if (twoColumns) m += top[2 * j + 1];
            if (twoRows) m += top[width + 2 * j];
            if (twoRows && twoColumns) m += top[width + 2 * j + 1];
            return m / count;
        }
        float left = twoRows ? top[2 * j] + top[width + 2 * j] : top[2 * j];
        float right = !twoColumns ? 0f : twoRows ? top[2 * j + 1] + top[width + 2 * j + 1] : top[2 * j + 1];
        return (left + right) / count;
    }

    /// <summary>
    /// Output row <paramref name="i"/> of the plane <paramref name="x"/> (<paramref name="height"/> × <paramref name="width"/>)
    /// into <paramref name="y"/> (<paramref name="outWidth"/> values: ⌊W/2⌋, or ⌈W/2⌉ with ceil_mode), sixteen outputs a
    /// step where the CPU runs 512-bit vectors (eight with AVX2) and the vector kernel's order applies, the rest by
    /// <see cref="One"/> (with <paramref name="rowOrder"/>: sixteen at a time where the CPU runs 512-bit vectors, eight
    /// with AVX2, in that order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* x, int height, int width, int outWidth, int i, float* y, bool rowOrder = false)
    {
        int j = 0;
        if (rowOrder)
        {
            float* rows = x + (long)2 * i * width;
            bool two = 2 * i + 1 < height;
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported) j = RowOrderSteps<FloatWidth512, Vector512<float>>(rows, two, width, outWidth, y, j);
            if (Avx2.IsSupported) j = RowOrderSteps<FloatWidth256, Vector256<float>>(rows, two, width, outWidth, y, j);
            for (; j < outWidth; j++) y[j] = One(x, height, width, i, j, rowOrder: true);
            return;
        }
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && width <= VectorKernelMaxWidth)
        {
            float* top = x + (long)2 * i * width;
            bool twoRows = 2 * i + 1 < height;
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var odds = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            var scale = Vector512.Create(twoRows ? 0.25f : 0.5f);
            // Outputs j … j + 15 read columns 2j … 2j + 31, all inside the row.
            for (; j + 16 <= outWidth && 2 * j + 32 <= width; j += 16)
            {
                var low = Vector512.Load(top + 2 * j);
                var high = Vector512.Load(top + 2 * j + 16);
                if (twoRows)
                {
                    low += Vector512.Load(top + width + 2 * j);
                    high += Vector512.Load(top + width + 2 * j + 16);
                }
                var sum = Avx512F.PermuteVar16x32x2(low, evens, high) + Avx512F.PermuteVar16x32x2(low, odds, high);
                (sum * scale).Store(y + j);
            }
        }
        else if (Avx2.IsSupported && width <= VectorKernelMaxWidth)
        {
            float* top = x + (long)2 * i * width;
            bool twoRows = 2 * i + 1 < height;
            var scale = Vector256.Create(twoRows ? 0.25f : 0.5f);
            for (; j + 8 <= outWidth && 2 * j + 16 <= width; j += 8)
            {
                var low = Vector256.Load(top + 2 * j);
                var high = Vector256.Load(top + 2 * j + 8);
                if (twoRows)
                {
                    low += Vector256.Load(top + width + 2 * j);
                    high += Vector256.Load(top + width + 2 * j + 8);
                }
                // Within each 128-bit half the even and odd columns of low then high: outputs 0 1 4 5 | 2 3 6 7, put in order after.
                var sum = Avx.Shuffle(low, high, 0b10_00_10_00) + Avx.Shuffle(low, high, 0b11_01_11_01);
                (Avx2.Permute4x64(sum.AsDouble(), 0b11_01_10_00).AsSingle() * scale).Store(y + j);
            }
        }
        for (; j < outWidth; j++) y[j] = One(x, height, width, i, j);
    }

    /// <summary>
    /// The row order's vector steps from output <paramref name="j"/>: ((((0 + a) + b) + c) + d) / n with a, b the top
    /// row's even and odd columns and c, d the bottom row's (absent where the window is cut by the last row), Lanes
    /// outputs a step. Returns the first output left to the narrower steps and <see cref="One"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RowOrderSteps<TW, TV>(float* top, bool twoRows, int width, int outWidth, float* y, int j)
        where TW : struct, IFloatWidth<TV> where TV : struct
    {
        var zero = TW.Create(0f);
        var scale = TW.Create(twoRows ? 0.25f : 0.5f);
        // Outputs j … j + Lanes − 1 read columns 2j … 2j + 2·Lanes − 1, all inside the row.
        for (; j + TW.Lanes <= outWidth && 2 * j + 2 * TW.Lanes <= width; j += TW.Lanes)
        {
            var low = TW.Load(top + 2 * j);
            var high = TW.Load(top + 2 * j + TW.Lanes);
            var sum = TW.Add(TW.Add(zero, TW.Evens(low, high)), TW.Odds(low, high));
            if (twoRows)
            {
                low = TW.Load(top + width + 2 * j);
                high = TW.Load(top + width + 2 * j + TW.Lanes);
                sum = TW.Add(TW.Add(sum, TW.Evens(low, high)), TW.Odds(low, high));
            }
            TW.Store(TW.Multiply(sum, scale), y + j);
        }
        return j;
    }
}
