using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Last stage: Y = alpha[co] · dot + bias[co], in float32, in that order (one multiply, then one add, no fused
/// multiply-add), the same two roundings as the lowered graph's Mul then Add. alpha may be negative (folded BN).
/// </summary>
internal static unsafe class OutputTransform
{
    /// <summary>Writes <paramref name="count"/> outputs from integer dots.</summary>
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
