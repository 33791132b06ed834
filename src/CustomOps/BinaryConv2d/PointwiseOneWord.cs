using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// 1×1 binary convs whose input fits one packed word per pixel (Cin ≤ 64), stride 1 and no padding: the decoder's
/// full-resolution SHB 1×1 layers (35 → 16 and 16 → 16 at 512×288, 59 → 32 at 256×144) and the backbone's small
/// 1×1 layers. For them the general pipeline (copy the patches, count into a buffer, then the output transform from
/// the counts in a second pass) costs several times the popcount itself, since each output is
/// one word against one word. Here one pass per row does it all: the 8 pixel words are loaded and split into nibbles
/// once, and for every output channel the nibble lookup gives the popcount per 64-bit lane (<c>vpsadbw</c>),
/// dot = Cin − 2·popcount, and y = alpha·dot + bias is stored straight into that channel's output row.
/// </summary>
/// <remarks>
/// The arithmetic is the general path's, operation for operation (the same integer dot, then one float32 multiply and
/// one add, as <see cref="OutputTransform"/>), so the output is bit-identical to it and to the reference.
/// <see cref="BinaryConvolution"/> uses this path with the AVX2 kernels (it is their nibble lookup); the others keep
/// the general pipeline.
/// </remarks>
internal static unsafe class PointwiseOneWord
{
    /// <summary>Whether a layer is one this path computes.</summary>
    public static bool Accepts(BinaryConv2dParams p) =>
        p.Taps == 1 && p.Words == 1 && p.StrideWidth == 1 && p.PadLeft == 0 && p.PadRight == 0 && p.PadTop == 0 && p.PadBottom == 0;

    /// <summary>
    /// One output row: <paramref name="width"/> packed input words <paramref name="a"/> (one per pixel) against the
    /// weight words of <paramref name="cout"/> channels (<paramref name="weights"/>, and their low and high nibbles
    /// <paramref name="weightLow"/> and <paramref name="weightHigh"/>); channel co's row is written at
    /// <paramref name="y"/> + co·<paramref name="channelStride"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(ulong* a, int width, ulong* weights, ulong* weightLow, ulong* weightHigh, int cout, int cin,
        float* alpha, float* bias, float* y, long channelStride)
    {
        int x = 0;
        if (Avx2.IsSupported)
        {
            var lut = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
            var low = Vector256.Create((byte)0x0F);
            var full = Vector256.Create(cin);
            for (; x + 8 <= width; x += 8)
            {
                var v0 = Avx.LoadVector256(a + x);
                var v1 = Avx.LoadVector256(a + x + 4);
                var lo0 = Avx2.And(v0.AsByte(), low);
                var hi0 = Avx2.And(Avx2.ShiftRightLogical(v0.AsUInt16(), 4).AsByte(), low);
                var lo1 = Avx2.And(v1.AsByte(), low);
                var hi1 = Avx2.And(Avx2.ShiftRightLogical(v1.AsUInt16(), 4).AsByte(), low);
                for (int co = 0; co < cout; co++)
                {
                    var wl = Vector256.Create(weightLow[co]).AsByte();
                    var wh = Vector256.Create(weightHigh[co]).AsByte();
                    var c0 = Avx2.SumAbsoluteDifferences(Avx2.Add(Avx2.Shuffle(lut, Avx2.Xor(lo0, wl)), Avx2.Shuffle(lut, Avx2.Xor(hi0, wh))), Vector256<byte>.Zero);
                    var c1 = Avx2.SumAbsoluteDifferences(Avx2.Add(Avx2.Shuffle(lut, Avx2.Xor(lo1, wl)), Avx2.Shuffle(lut, Avx2.Xor(hi1, wh))), Vector256<byte>.Zero);
                    var raw = Vector256.Narrow(c0.AsUInt64(), c1.AsUInt64()).AsInt32(); // pixels x .. x + 7, in order
                    var dot = full - raw * 2;
                    var product = Vector256.ConvertToSingle(dot) * Vector256.Create(alpha[co]);
                    (product + Vector256.Create(bias[co])).Store(y + co * channelStride + x);
                }
            }
        }
        for (; x < width; x++)
            for (int co = 0; co < cout; co++)
                y[co * channelStride + x] = OutputTransform.One(cin - 2 * BitOperations.PopCount(a[x] ^ weights[co]), alpha[co], bias[co]);
    }
}
