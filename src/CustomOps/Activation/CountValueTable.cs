using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// A glue's values where its input is a folded one-word 1×1 conv's output with at most 31 input channels and nothing
/// is added to it (off the folded sparse conv's active cells): each channel's value is a function of the pixel's
/// popcount n ∈ [0, Cin], so a table of 32 floats per channel, formed once per call by the glue's own scalar operations
/// (<see cref="ShortcutRPReLU.OneFromCount"/>, the same values as its vector loop), gives a row by one two-register
/// permute (<c>vpermi2ps</c>) per 16 values (on AVX2 four permutes and three blends per 8, <see cref="Row256"/>) in place
/// of the conv's output stage, the normalization and the RPReLU. Wider inputs (decode1's 59 channels: two permutes and
/// a blend) gained nothing measurable: 0.50 against 0.52 ms on the test card, 0.96 against 0.93 on vtest.avi
/// (docs/kernels.md, twenty-sixth session).
/// <see cref="CountBitTable"/> is the same idea where the glue writes only bits.
/// </summary>
internal static unsafe class CountValueTable
{
    /// <summary>Floats per channel's table: one per popcount a two-register permute indexes.</summary>
    public const int TableFloats = 32;

    /// <summary>The most input channels of the folded 1×1 conv: popcounts 0 … Cin must index the 32-float table.</summary>
    public const int MaxInChannels = TableFloats - 1;

    /// <summary>Whether this CPU runs the 16-value permutes (512-bit vectors, AVX-512F).</summary>
    private static bool Wide => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Whether this CPU runs the lookups: 16 values a permute (<see cref="Wide"/>), else 8 by AVX2 (<see cref="Row256"/>).</summary>
    public static bool IsSupported => Wide || Vector256.IsHardwareAccelerated && Avx2.IsSupported;

    /// <summary>
    /// Values [<paramref name="from"/>, <paramref name="to"/>) of one channel's row: output[x] = table[counts[x]] (each count
    /// in [0, Cin] ≤ 31; the permutes read the index's low five bits only, so no count reads outside the table). Whole
    /// vectors of 16 (8 on AVX2), the last one ending at <paramref name="to"/>; a range shorter than a vector one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(int* counts, float* table, int from, int to, float* output)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("the count tables need AVX-512F or AVX2");
        int count = to - from;
        if (!Wide && count >= 8)
        {
            Row256(counts, table, from, to, output);
            return;
        }
        if (count < 16)
        {
            for (int x = from; x < to; x++) output[x] = table[counts[x] & MaxInChannels];
            return;
        }
        var low = Vector512.Load(table);
        var high = Vector512.Load(table + 16);
        int last = to - 16;
        for (int x = from; x < last; x += 16)
            Avx512F.PermuteVar16x32x2(low, Vector512.Load(counts + x), high).Store(output + x);
        Avx512F.PermuteVar16x32x2(low, Vector512.Load(counts + last), high).Store(output + last);
    }

    /// <summary>
    /// <see cref="Row"/> on AVX2, 8 values a step (at least 8): the table's four 8-float quarters each permuted by the
    /// count's low three bits (<c>vpermps</c>), then chosen by its bits 3 and 4 (each shifted into the sign bit that
    /// <c>vblendvps</c> reads): two blends of the quarters' pairs, then one between them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row256(int* counts, float* table, int from, int to, float* output)
    {
        var t0 = Vector256.Load(table);
        var t1 = Vector256.Load(table + 8);
        var t2 = Vector256.Load(table + 16);
        var t3 = Vector256.Load(table + 24);
        int last = to - 8;
        for (int x = from; x < last; x += 8) Lookup256(t0, t1, t2, t3, Vector256.Load(counts + x)).Store(output + x);
        Lookup256(t0, t1, t2, t3, Vector256.Load(counts + last)).Store(output + last);
    }

    /// <summary>Eight values: the entries at the indices (their low five bits) of the table held as four quarters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup256(Vector256<float> t0, Vector256<float> t1, Vector256<float> t2, Vector256<float> t3, Vector256<int> index)
    {
        var bit3 = Avx2.ShiftLeftLogical(index, 28).AsSingle();
        var bit4 = Avx2.ShiftLeftLogical(index, 27).AsSingle();
        var low = Avx.BlendVariable(Avx2.PermuteVar8x32(t0, index), Avx2.PermuteVar8x32(t1, index), bit3);
        var high = Avx.BlendVariable(Avx2.PermuteVar8x32(t2, index), Avx2.PermuteVar8x32(t3, index), bit3);
        return Avx.BlendVariable(low, high, bit4);
    }
}
