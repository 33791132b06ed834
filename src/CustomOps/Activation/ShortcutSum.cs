using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// The backbone's scaled shortcut sums, one channel plane at a time: y = ((x + s₁·z₁) + s₂·z₂) + …, where zᵢ is the
/// plane of term i that channel c reads (the ONNX Tile's repetition is the caller's choice of plane). Each product
/// and each sum is rounded to float32 once, in that order and with no fused multiply-add, as the unfused graph's Mul
/// then Add do, so the result is bit-identical to it.
/// </summary>
internal static unsafe class ShortcutSum
{
    /// <summary>
    /// Writes <paramref name="count"/> outputs from <paramref name="x"/> and the <paramref name="terms"/> planes with their
    /// <paramref name="scales"/>, each of <paramref name="termCount"/> entries. <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(float* x, float** terms, float* scales, int termCount, float* y, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= count; i += 16)
            {
                var sum = Vector512.Load(x + i);
                for (int t = 0; t < termCount; t++)
                    sum += Vector512.Load(terms[t] + i) * Vector512.Create(scales[t]);
                sum.Store(y + i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= count; i += 8)
            {
                var sum = Vector256.Load(x + i);
                for (int t = 0; t < termCount; t++)
                    sum += Vector256.Load(terms[t] + i) * Vector256.Create(scales[t]);
                sum.Store(y + i);
            }
        for (; i < count; i++)
        {
            float sum = x[i];
            for (int t = 0; t < termCount; t++) sum = Step(sum, terms[t][i], scales[t]);
            y[i] = sum;
        }
    }

    /// <summary>One step, the specification: sum + z·s, the product rounded first (the graph's Mul, then its Add).</summary>
    public static float Step(float sum, float z, float scale)
    {
        float product = z * scale;
        return sum + product;
    }
}
