using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// AVX2 Harley-Seal: 4 pixels per 256-bit register; the words x_k = patch_k XOR w_k of one channel are summed
/// bit-sliced by carry-save adders (CSA(a, b, c) → low = a⊕b⊕c, high = majority(a, b, c), so a + b + c =
/// low + 2·high bit by bit) into ones, twos, fours; every 8 words give one "eights" vector, the only one counted
/// per round (nibble lookup). A patch is short (a 3×3×64 one is 9 words), so what is left at the end is counted
/// too: count = 8·Σ P(eights) + 4·P(fours) + 2·P(twos) + P(ones) + Σ P(x_k) over the last patchWords mod 8 words.
/// Byte counts of eights hold 31 rounds (31·8 ≤ 255); the end's byte counts are ≤ 4·8 + 2·8 + 8 + 7·8 = 112.
/// Structurally identical to <see cref="HarleySealAvx512Kernel"/> except the adder: change one, change the other.
/// </summary>
internal sealed unsafe class HarleySealAvx2Kernel : IBinaryKernel
{
    public static readonly HarleySealAvx2Kernel Instance = new();

    /// <summary>Rounds of 8 words whose eights' byte counts fit in a byte: ⌊255 / 8⌋.</summary>
    private const int ByteBudget = 31;

    public string Name => "avx2-harley-seal";
    public int PixelBlock => 4;
    public static bool IsSupported => Avx2.IsSupported;

    // Hot loop: compiled fully optimized at once (no tier-0 code for the first calls of a session).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
    {
        var lut = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        var low = Vector256.Create((byte)0x0F);
        int rounds = patchWords / 8;
        for (int co = 0; co < coutPadded; co++)
        {
            ulong* w = weights + (long)co * patchWords;
            int* c = counts + (long)co * countsStride;
            for (int b = 0; b < blocks; b++)
            {
                ulong* a = patches + (long)b * patchWords * 4;
                Vector256<ulong> ones = default, twos = default, fours = default, total = default;
                for (int r0 = 0; r0 < rounds; r0 += ByteBudget)
                {
                    int r1 = Math.Min(rounds, r0 + ByteBudget);
                    Vector256<byte> eightsCount = default;
                    for (int r = r0; r < r1; r++)
                    {
                        ulong* ar = a + r * 8 * 4, wr = w + r * 8;
                        Csa(out var twosA, ref ones, Word(ar, wr, 0), Word(ar, wr, 1));
                        Csa(out var twosB, ref ones, Word(ar, wr, 2), Word(ar, wr, 3));
                        Csa(out var foursA, ref twos, twosA, twosB);
                        Csa(out twosA, ref ones, Word(ar, wr, 4), Word(ar, wr, 5));
                        Csa(out twosB, ref ones, Word(ar, wr, 6), Word(ar, wr, 7));
                        Csa(out var foursB, ref twos, twosA, twosB);
                        Csa(out var eights, ref fours, foursA, foursB);
                        eightsCount = Avx2.Add(eightsCount, Count(eights, lut, low));
                    }
                    total = Avx2.Add(total, Avx2.ShiftLeftLogical(Avx2.SumAbsoluteDifferences(eightsCount, Vector256<byte>.Zero).AsUInt64(), 3));
                }
                var rest = Count(fours, lut, low);
                rest = Avx2.Add(rest, rest);
                rest = Avx2.Add(rest, Count(twos, lut, low));
                rest = Avx2.Add(rest, rest);
                rest = Avx2.Add(rest, Count(ones, lut, low));
                for (int k = rounds * 8; k < patchWords; k++) rest = Avx2.Add(rest, Count(Word(a, w, k), lut, low));
                total = Avx2.Add(total, Avx2.SumAbsoluteDifferences(rest, Vector256<byte>.Zero).AsUInt64());
                Vector256.Narrow(total, total).GetLower().AsInt32().Store(c + b * 4);
            }
        }
    }

    /// <summary>x_k = patch word k of the block XOR the channel's weight word k (broadcast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Word(ulong* a, ulong* w, int k) => Avx2.Xor(Avx.LoadVector256(a + k * 4), Vector256.Create(w[k]));

    /// <summary>Carry-save adder: low + 2·high = low + b + c, bit by bit (low is both an input and the low output).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Csa(out Vector256<ulong> high, ref Vector256<ulong> low, Vector256<ulong> b, Vector256<ulong> c)
    {
        var u = Avx2.Xor(low, b); // ISA-specific adder
        high = Avx2.Or(Avx2.And(low, b), Avx2.And(u, c)); // ISA-specific adder
        low = Avx2.Xor(u, c); // ISA-specific adder
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Count(Vector256<ulong> v, Vector256<byte> lut, Vector256<byte> low) => Avx2Kernel.Count(v, lut, low);
}
