using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.BitPacking;

/// <summary>
/// The one definition of how ±1 values are stored as bits, shared by the kernels and the exporter.
/// </summary>
/// <remarks>
/// <para>Encoding: bit = 1 means −1, bit = 0 means +1 (Larq's convention). Then for two ±1 vectors
/// a and w of length n, a·w = n − 2·popcount(a XOR w): each disagreeing pair contributes −1 instead of +1.</para>
/// <para>Channels are packed along the last axis, 64 per <c>ulong</c> word, little-endian within a word:
/// channel c lives in word c / 64 at bit c % 64 (bit 0 = least significant). A channel count that is not a
/// multiple of 64 leaves the high bits of the last word unused; those padding bits are 0 in both activations
/// and weights, so their XOR is 0 and they never reach the popcount. The dot product then uses the real
/// channel count n = Cin, never 64·words.</para>
/// <para>Activations: [N, H, W, words] (channels last, one pixel's words contiguous).
/// Weights (the <c>W</c> input of <c>BinaryConv2d</c>): uint64 tensor [Cout, kH, kW, words], so that one
/// output channel's receptive field is contiguous in the same (ky, kx, word) order as an im2col patch row.</para>
/// </remarks>
public static class PackedLayout
{
    /// <summary>Bits per packed word.</summary>
    public const int BitsPerWord = 64;

    /// <summary>Number of 64-bit words that hold <paramref name="channels"/> sign bits.</summary>
    public static int WordsFor(int channels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        return (channels + BitsPerWord - 1) / BitsPerWord;
    }

    /// <summary>Bit of a value in the packed encoding: the sign convention of the whole library, sign(0) = +1.</summary>
    /// <remarks>Written as <c>!(v &gt;= 0)</c>, not <c>v &lt; 0</c>, so that NaN maps to −1 exactly like the lowered
    /// graph's <c>Where(GreaterOrEqual(v, 0), +1, −1)</c>.</remarks>
    public static ulong SignBit(float v) => v >= 0f ? 0UL : 1UL;

    /// <summary>
    /// The value a packer compares x with instead of forming x − τ: !(x ≥ Threshold(τ)) is <see cref="SignBit"/>(x − τ)
    /// for every float x and τ, so one compare takes the place of a subtraction and a compare. For finite τ it is τ: x − τ
    /// rounds to a value ≥ 0 exactly when x ≥ τ (the difference of two distinct floats never rounds to zero, with
    /// subnormals kept; an overflow keeps its sign), and a NaN on either side gives 1 both ways. Only x and τ infinite
    /// with the same sign differ (x − τ is NaN, bit 1, where x ≥ τ): so τ = +∞ becomes NaN (every bit 1, as x − ∞ is
    /// never ≥ 0) and τ = −∞ becomes −float.MaxValue (bit 1 for x = −∞ and NaN only, as x + ∞ is ≥ 0 otherwise).
    /// Checked for every pair of special values in the tests.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Threshold(float tau) => float.IsPositiveInfinity(tau) ? float.NaN : float.IsNegativeInfinity(tau) ? -float.MaxValue : tau;

    /// <summary>
    /// Word <paramref name="word"/> of <paramref name="pixels"/> consecutive pixels of <paramref name="words"/> words each
    /// at <paramref name="dst"/>: pixel i's is <paramref name="src"/>[i] (a row of one word a pixel, packed 64 channels at a time).
    /// </summary>
    public static unsafe void SetWord(ulong* src, int pixels, ulong* dst, int words, int word)
    {
        ulong* d = dst + word;
        for (int i = 0; i < pixels; i++) d[(long)i * words] = src[i];
    }

    /// <summary>
    /// The packed concatenation of two packed tensors of <paramref name="channels"/> channels each, for
    /// <paramref name="pixels"/> pixels: pixel p's channels of <paramref name="low"/> (words(C) words a pixel) as
    /// channels 0 … C − 1 of <paramref name="dst"/> (words(2C) words a pixel) and those of <paramref name="high"/> as
    /// C … 2C − 1: the words a packer would write for the concatenated values, since each bit is its own channel's.
    /// </summary>
    public static unsafe void Join(ulong* low, ulong* high, int channels, int pixels, ulong* dst)
    {
        int half = WordsFor(channels), whole = WordsFor(2 * channels);
        if (whole == 1)
        {
            // Both halves in one word (2C ≤ 64): the high half shifted above the low one. C = 32 shifts by 32; C < 64.
            int p = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; p + 8 <= pixels; p += 8)
                    (Vector512.Load(low + p) | Vector512.Load(high + p) << channels).Store(dst + p);
            else if (Vector256.IsHardwareAccelerated)
                for (; p + 4 <= pixels; p += 4)
                    (Vector256.Load(low + p) | Vector256.Load(high + p) << channels).Store(dst + p);
            for (; p < pixels; p++) dst[p] = low[p] | high[p] << channels;
            return;
        }
        int shift = channels % BitsPerWord, at = channels / BitsPerWord;
        for (int p = 0; p < pixels; p++)
        {
            ulong* l = low + (long)p * half, h = high + (long)p * half, d = dst + (long)p * whole;
            for (int i = 0; i < whole; i++) d[i] = i < half ? l[i] : 0UL;
            // High word i starts at bit C + 64·i: word at + i, from bit shift, spilling into the next word.
            for (int i = 0; i < half; i++)
            {
                d[at + i] |= h[i] << shift;
                if (shift != 0 && at + i + 1 < whole) d[at + i + 1] |= h[i] >> (BitsPerWord - shift);
            }
        }
    }
}
