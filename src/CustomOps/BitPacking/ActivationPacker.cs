using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.BitPacking;

/// <summary>
/// Binarizes float NCHW activations, a = sign(x − τ[c]) with sign(0) = +1, into the channels-last packed layout
/// [N, H, W, words] of <see cref="PackedLayout"/>.
/// </summary>
/// <remarks>
/// <para>NCHW puts a pixel's 64 channels 4·H·W bytes apart, so packing one pixel at a time would touch 64 cache
/// lines per word. Instead 8 neighbouring pixels are packed together: for each channel one 8-wide vector compare
/// along the row gives an 8-bit mask (bit j = pixel j). Eight channels' masks form an 8×8 bit matrix (byte i =
/// channel i); transposing it gives byte j = pixel j with bit i = channel i, which is exactly one byte of that
/// pixel's word. All loads are contiguous rows.</para>
/// <para>The comparison is <c>!((x − τ) ≥ 0)</c> on the float difference, the same operations as the lowered ONNX
/// graph (Sub, GreaterOrEqual, Where), so the two agree bit for bit even for NaN.</para>
/// </remarks>
internal static unsafe class ActivationPacker
{
    /// <summary>
    /// Packs pixels [<paramref name="ix0"/>, <paramref name="ix1"/>) of input row <paramref name="iy"/> of image
    /// <paramref name="n"/>. <paramref name="rowDst"/> points at the packed row (pixel 0, word 0).
    /// </summary>
    public static void PackRow(float* x, float* tau, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst)
    {
        int words = PackedLayout.WordsFor(cin);
        long plane = (long)h * w;
        float* row0 = x + ((long)n * cin * h + iy) * w; // channel 0 of this row; channel c is at + c·plane
        int ix = ix0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; ix + 8 <= ix1; ix += 8)
                PackEight(row0 + ix, plane, tau, cin, words, rowDst + (long)ix * words);
        }
        for (; ix < ix1; ix++)
            PackOne(row0 + ix, plane, tau, cin, words, rowDst + (long)ix * words);
    }

    /// <summary>Packs a whole NCHW tensor into [N, H, W, words] (tests, benchmarks, the reference path).</summary>
    public static ulong[] Pack(ReadOnlySpan<float> x, ReadOnlySpan<float> tau, int batch, int cin, int h, int w)
    {
        if (x.Length != (long)batch * cin * h * w) throw new ArgumentException("x does not have N·C·H·W values.", nameof(x));
        if (tau.Length != cin) throw new ArgumentException("tau must have C values.", nameof(tau));
        int words = PackedLayout.WordsFor(cin);
        var packed = new ulong[(long)batch * h * w * words];
        fixed (float* px = x) fixed (float* pt = tau) fixed (ulong* pd = packed)
            for (int n = 0; n < batch; n++)
                for (int iy = 0; iy < h; iy++)
                    PackRow(px, pt, cin, h, w, n, iy, 0, w, pd + ((long)n * h + iy) * w * words);
        return packed;
    }

    /// <summary>The obviously-correct packer: one pixel, one channel at a time. Also handles row tails.</summary>
    internal static void PackOne(float* pixel, long plane, float* tau, int cin, int words, ulong* dst)
    {
        for (int wi = 0; wi < words; wi++) dst[wi] = 0;
        for (int c = 0; c < cin; c++)
            dst[c >> 6] |= PackedLayout.SignBit(pixel[c * plane] - tau[c]) << (c & 63);
    }

    private static void PackEight(float* pixels, long plane, float* tau, int cin, int words, ulong* dst)
    {
        var zero = Vector256<float>.Zero;
        for (int wi = 0; wi < words; wi++)
        {
            ulong w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0;
            for (int g = 0; g < 8; g++)
            {
                int cBase = wi * 64 + g * 8;
                if (cBase >= cin) break; // padding channels stay 0 (see PackedLayout)
                ulong matrix = 0;
                int cEnd = Math.Min(8, cin - cBase);
                for (int i = 0; i < cEnd; i++)
                {
                    int c = cBase + i;
                    var d = Vector256.Load(pixels + c * plane) - Vector256.Create(tau[c]);
                    uint positive = Vector256.GreaterThanOrEqual(d, zero).ExtractMostSignificantBits();
                    matrix |= (ulong)(~positive & 0xFFu) << (8 * i);
                }
                ulong t = Transpose8x8(matrix); // byte j = pixel j, bit i = channel cBase + i
                int shift = 8 * g;
                w0 |= (t & 0xFF) << shift;
                w1 |= ((t >> 8) & 0xFF) << shift;
                w2 |= ((t >> 16) & 0xFF) << shift;
                w3 |= ((t >> 24) & 0xFF) << shift;
                w4 |= ((t >> 32) & 0xFF) << shift;
                w5 |= ((t >> 40) & 0xFF) << shift;
                w6 |= ((t >> 48) & 0xFF) << shift;
                w7 |= (t >> 56) << shift;
            }
            dst[wi] = w0;
            dst[words + wi] = w1;
            dst[2 * words + wi] = w2;
            dst[3 * words + wi] = w3;
            dst[4 * words + wi] = w4;
            dst[5 * words + wi] = w5;
            dst[6 * words + wi] = w6;
            dst[7 * words + wi] = w7;
        }
    }

    /// <summary>
    /// Transposes an 8×8 bit matrix stored row-major in a ulong (bit 8·r + c is row r, column c): three rounds of
    /// delta swaps across the diagonal (the chess-programming "flip about a1-h8"), 2×2, 4×4 then 8×8 blocks.
    /// </summary>
    internal static ulong Transpose8x8(ulong x)
    {
        ulong t = 0x0F0F0F0F00000000UL & (x ^ (x << 28));
        x ^= t ^ (t >> 28);
        t = 0x3333000033330000UL & (x ^ (x << 14));
        x ^= t ^ (t >> 14);
        t = 0x5500550055005500UL & (x ^ (x << 7));
        x ^= t ^ (t >> 7);
        return x;
    }
}
