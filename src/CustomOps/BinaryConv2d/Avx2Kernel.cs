using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// AVX2: 4 pixels per 256-bit register, popcount by nibble lookup (Muła): <c>vpshufb</c> maps each 4-bit nibble
/// to its bit count, two lookups per byte; the activation nibbles are split once per word and shared by four
/// output channels, whose weight nibbles are prepared once (<see cref="IBinaryKernel"/>). Byte counts are summed for up to <see cref="ByteBudget"/> words
/// (each adds ≤ 8 per byte, 31·8 = 248 ≤ 255) before <c>vpsadbw</c> widens them to one 64-bit sum per pixel.
/// Structurally identical to <see cref="Avx512Kernel"/>: change one, change the other.
/// </summary>
internal sealed unsafe class Avx2Kernel : IBinaryKernel
{
    public static readonly Avx2Kernel Instance = new();

    /// <summary>Words whose byte counts fit in a byte accumulator: ⌊255 / 8⌋.</summary>
    private const int ByteBudget = 31;

    public string Name => "avx2";
    public int PixelBlock => 4;
    public static bool IsSupported => Avx2.IsSupported;

    // Hot loop: compiled fully optimized at once (no tier-0 code for the first calls of a session).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
    {
        var lut = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        var low = Vector256.Create((byte)0x0F);
        long plane = (long)coutPadded * patchWords;
        for (int co = 0; co < coutPadded; co += IBinaryKernel.CoutBlock)
        {
            // Nibble planes of the weights (see IBinaryKernel): lo = w & 0x0F.., hi = (w >> 4) & 0x0F...
            ulong* l0 = weights + plane + (long)co * patchWords, l1 = l0 + patchWords, l2 = l1 + patchWords, l3 = l2 + patchWords;
            ulong* h0 = l0 + plane, h1 = h0 + patchWords, h2 = h1 + patchWords, h3 = h2 + patchWords;
            int* c0 = counts + (long)co * countsStride, c1 = c0 + countsStride, c2 = c1 + countsStride, c3 = c2 + countsStride;
            for (int b = 0; b < blocks; b++)
            {
                ulong* a = patches + (long)b * patchWords * 4;
                Vector256<ulong> t0 = default, t1 = default, t2 = default, t3 = default;
                for (int k0 = 0; k0 < patchWords; k0 += ByteBudget)
                {
                    int k1 = Math.Min(patchWords, k0 + ByteBudget);
                    Vector256<byte> s0 = default, s1 = default, s2 = default, s3 = default;
                    for (int k = k0; k < k1; k++)
                    {
                        // Split the activations into nibbles once for all four channels: the nibbles of a XOR w
                        // are the XOR of the nibbles, so each channel costs 2 XOR + 2 lookups + 2 adds.
                        var v = Avx.LoadVector256(a + k * 4);
                        var lo = Avx2.And(v.AsByte(), low);
                        var hi = Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), low);
                        s0 = Avx2.Add(s0, CountSplit(lo, hi, l0[k], h0[k], lut));
                        s1 = Avx2.Add(s1, CountSplit(lo, hi, l1[k], h1[k], lut));
                        s2 = Avx2.Add(s2, CountSplit(lo, hi, l2[k], h2[k], lut));
                        s3 = Avx2.Add(s3, CountSplit(lo, hi, l3[k], h3[k], lut));
                    }
                    t0 = Avx2.Add(t0, Avx2.SumAbsoluteDifferences(s0, Vector256<byte>.Zero).AsUInt64());
                    t1 = Avx2.Add(t1, Avx2.SumAbsoluteDifferences(s1, Vector256<byte>.Zero).AsUInt64());
                    t2 = Avx2.Add(t2, Avx2.SumAbsoluteDifferences(s2, Vector256<byte>.Zero).AsUInt64());
                    t3 = Avx2.Add(t3, Avx2.SumAbsoluteDifferences(s3, Vector256<byte>.Zero).AsUInt64());
                }
                int p = b * 4;
                Vector256.Narrow(t0, t0).GetLower().AsInt32().Store(c0 + p);
                Vector256.Narrow(t1, t1).GetLower().AsInt32().Store(c1 + p);
                Vector256.Narrow(t2, t2).GetLower().AsInt32().Store(c2 + p);
                Vector256.Narrow(t3, t3).GetLower().AsInt32().Store(c3 + p);
            }
        }
    }

    /// <summary>Per-byte popcount of (a XOR w) from a's nibbles and w's nibble words (broadcast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> CountSplit(Vector256<byte> lo, Vector256<byte> hi, ulong wLo, ulong wHi, Vector256<byte> lut) =>
        Avx2.Add(Avx2.Shuffle(lut, Avx2.Xor(lo, Vector256.Create(wLo).AsByte())), Avx2.Shuffle(lut, Avx2.Xor(hi, Vector256.Create(wHi).AsByte())));

    /// <summary>Per-byte popcount of 32 bytes: lut[low nibble] + lut[high nibble].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Count(Vector256<ulong> v, Vector256<byte> lut, Vector256<byte> low)
    {
        var bytes = v.AsByte();
        var lo = Avx2.And(bytes, low);
        var hi = Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), low);
        return Avx2.Add(Avx2.Shuffle(lut, lo), Avx2.Shuffle(lut, hi));
    }
}
