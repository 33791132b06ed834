using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BitPacking;

/// <summary>
/// Bit accumulators at one vector width, one lane a pixel, for packers written once for both widths (beside
/// <see cref="Cpu.IFloatWidth{TV}"/> for their float arithmetic): a channel's bit set where a value is below its
/// threshold (<see cref="PackedLayout.Threshold"/>: the sign bit of x − τ), and the lanes put in pixel order as words.
/// Generic code over a struct of this interface is compiled once per width, with the calls inlined.
/// </summary>
internal unsafe interface IBitLanes<TF, TU> where TF : struct where TU : struct
{
    /// <summary>1 &lt;&lt; <paramref name="shift"/> in every lane.</summary>
    static abstract TU Bit(int shift);

    /// <summary><paramref name="acc"/> with <paramref name="bit"/> set in the lanes where x is not ≥ <paramref name="threshold"/> (NaN included).</summary>
    static abstract TU SetWhereBelow(TU acc, TF x, TF threshold, TU bit);

    /// <summary>a[0], b[0], a[1], b[1], …: the first half of the lanes of each in the result, the second half in <paramref name="upper"/>.</summary>
    static abstract TU Alternate(TU a, TU b, out TU upper);

    /// <summary>Word j = lo[j] | hi[j] &lt;&lt; 32 for every lane j, into d[0 … lanes).</summary>
    static abstract void Interleave(TU lo, TU hi, ulong* d);
}

/// <summary>16 lanes (AVX-512F): the compare into a mask register, the bit ORed in under it.</summary>
internal readonly unsafe struct BitLanes512 : IBitLanes<Vector512<float>, Vector512<uint>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Bit(int shift) => Vector512.Create(1u << shift);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> SetWhereBelow(Vector512<uint> acc, Vector512<float> x, Vector512<float> threshold, Vector512<uint> bit) =>
        ActivationPacker.SetWhereBelow(acc, x, threshold, bit);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Alternate(Vector512<uint> a, Vector512<uint> b, out Vector512<uint> upper) => ActivationPacker.Alternate512(a, b, out upper);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Interleave(Vector512<uint> lo, Vector512<uint> hi, ulong* d) => ActivationPacker.Interleave512(lo, hi, d);
}

/// <summary>8 lanes (AVX2): no mask registers, so the compare's all-ones lanes select the bit by an AND, then an OR.</summary>
internal readonly unsafe struct BitLanes256 : IBitLanes<Vector256<float>, Vector256<uint>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Bit(int shift) => Vector256.Create(1u << shift);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> SetWhereBelow(Vector256<uint> acc, Vector256<float> x, Vector256<float> threshold, Vector256<uint> bit) =>
        acc | (Avx.CompareNotGreaterThanOrEqual(x, threshold).AsUInt32() & bit);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Alternate(Vector256<uint> a, Vector256<uint> b, out Vector256<uint> upper) => ActivationPacker.Alternate256(a, b, out upper);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Interleave(Vector256<uint> lo, Vector256<uint> hi, ulong* d) => ActivationPacker.Interleave256(lo, hi, d);
}
