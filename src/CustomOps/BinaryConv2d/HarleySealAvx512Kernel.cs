using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// AVX-512BW Harley-Seal: 8 pixels per 512-bit register; the words x_k = patch_k XOR w_k of one channel are summed
/// bit-sliced by carry-save adders (CSA(a, b, c) → low = a⊕b⊕c, high = majority(a, b, c), so a + b + c =
/// low + 2·high bit by bit) into ones, twos, fours; every 8 words give one "eights" vector, the only one counted
/// per round (nibble lookup). A patch is short (a 3×3×64 one is 9 words), so what is left at the end is counted
/// too: count = 8·Σ P(eights) + 4·P(fours) + 2·P(twos) + P(ones) + Σ P(x_k) over the last patchWords mod 8 words.
/// Byte counts of eights hold 31 rounds (31·8 ≤ 255); the end's byte counts are ≤ 4·8 + 2·8 + 8 + 7·8 = 112.
/// Structurally identical to <see cref="HarleySealAvx2Kernel"/> except the adder: change one, change the other.
/// </summary>
internal sealed unsafe class HarleySealAvx512Kernel : IBinaryKernel
{
    public static readonly HarleySealAvx512Kernel Instance = new();

    /// <summary>Rounds of 8 words whose eights' byte counts fit in a byte: ⌊255 / 8⌋.</summary>
    private const int ByteBudget = 31;

    public string Name => "avx512bw-harley-seal";
    public int PixelBlock => 8;
    public static bool IsSupported => Avx512BW.IsSupported;

    // Hot loop: compiled fully optimized at once (no tier-0 code for the first calls of a session).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
    {
        var lut = Vector512.Create(Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
        var low = Vector512.Create((byte)0x0F);
        int rounds = patchWords / 8;
        for (int co = 0; co < coutPadded; co++)
        {
            ulong* w = weights + (long)co * patchWords;
            int* c = counts + (long)co * countsStride;
            for (int b = 0; b < blocks; b++)
            {
                ulong* a = patches + (long)b * patchWords * 8;
                Vector512<ulong> ones = default, twos = default, fours = default, total = default;
                for (int r0 = 0; r0 < rounds; r0 += ByteBudget)
                {
                    int r1 = Math.Min(rounds, r0 + ByteBudget);
                    Vector512<byte> eightsCount = default;
                    for (int r = r0; r < r1; r++)
                    {
                        ulong* ar = a + r * 8 * 8, wr = w + r * 8;
                        Csa(out var twosA, ref ones, Word(ar, wr, 0), Word(ar, wr, 1));
                        Csa(out var twosB, ref ones, Word(ar, wr, 2), Word(ar, wr, 3));
                        Csa(out var foursA, ref twos, twosA, twosB);
                        Csa(out twosA, ref ones, Word(ar, wr, 4), Word(ar, wr, 5));
                        Csa(out twosB, ref ones, Word(ar, wr, 6), Word(ar, wr, 7));
                        Csa(out var foursB, ref twos, twosA, twosB);
                        Csa(out var eights, ref fours, foursA, foursB);
                        eightsCount = Avx512BW.Add(eightsCount, Count(eights, lut, low));
                    }
                    total = Avx512F.Add(total, Avx512F.ShiftLeftLogical(Avx512BW.SumAbsoluteDifferences(eightsCount, Vector512<byte>.Zero).AsUInt64(), 3));
                }
                var rest = Count(fours, lut, low);
                rest = Avx512BW.Add(rest, rest);
                rest = Avx512BW.Add(rest, Count(twos, lut, low));
                rest = Avx512BW.Add(rest, rest);
                rest = Avx512BW.Add(rest, Count(ones, lut, low));
                for (int k = rounds * 8; k < patchWords; k++) rest = Avx512BW.Add(rest, Count(Word(a, w, k), lut, low));
                total = Avx512F.Add(total, Avx512BW.SumAbsoluteDifferences(rest, Vector512<byte>.Zero).AsUInt64());
                Vector512.Narrow(total, total).GetLower().AsInt32().Store(c + b * 8);
            }
        }
    }

    /// <summary>x_k = patch word k of the block XOR the channel's weight word k (broadcast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Word(ulong* a, ulong* w, int k) => Avx512F.Xor(Avx512F.LoadVector512(a + k * 8), Vector512.Create(w[k]));

    /// <summary>Carry-save adder: low + 2·high = low + b + c, bit by bit (low is both an input and the low output).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Csa(out Vector512<ulong> high, ref Vector512<ulong> low, Vector512<ulong> b, Vector512<ulong> c)
    {
        high = Avx512F.TernaryLogic(low, b, c, 0xE8); // ISA-specific adder: majority(a, b, c), truth table 11101000
        low = Avx512F.TernaryLogic(low, b, c, 0x96); // ISA-specific adder: a ⊕ b ⊕ c, truth table 10010110
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Count(Vector512<ulong> v, Vector512<byte> lut, Vector512<byte> low) => Avx512Kernel.Count(v, lut, low);
}
