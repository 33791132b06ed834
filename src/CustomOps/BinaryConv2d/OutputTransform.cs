using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Last stage: Y = alpha[co] · dot + bias[co], in float32, in that order (one multiply, then one add, no fused
/// multiply-add), the same two roundings as the lowered graph's Mul then Add. alpha may be negative (folded BN).
/// </summary>
internal static unsafe class OutputTransform
{
    /// <summary>Writes output[xs[i]] for the <paramref name="count"/> listed columns of one output row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(int* dots, int* xs, int count, float alpha, float bias, float* outputRow)
    {
        if (count > 0 && xs[count - 1] - xs[0] == count - 1)
        {
            Apply(dots, count, alpha, bias, outputRow + xs[0]); // consecutive columns: contiguous vector stores
            return;
        }
        for (int i = 0; i < count; i++)
        {
            float product = dots[i] * alpha;
            outputRow[xs[i]] = product + bias;
        }
    }

    /// <summary>Writes <paramref name="count"/> consecutive outputs from integer dots.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(int* dots, int count, float alpha, float bias, float* output)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(alpha);
            var b = Vector256.Create(bias);
            for (; i + 8 <= count; i += 8)
            {
                var product = Vector256.ConvertToSingle(Vector256.Load(dots + i)) * a;
                (product + b).Store(output + i);
            }
        }
        for (; i < count; i++)
        {
            float product = dots[i] * alpha;
            output[i] = product + bias;
        }
    }
}
