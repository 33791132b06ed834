using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BitPacking;

/// <summary>
/// Binarizes float NCHW activations, a = sign(x − τ[c]) with sign(0) = +1, into the channels-last packed layout
/// [N, H, W, words] of <see cref="PackedLayout"/>.
/// </summary>
/// <remarks>
/// <para>NCHW puts a pixel's 64 channels 4·H·W bytes apart, so packing one pixel at a time would touch 64 cache
/// lines per word. Instead each channel's row is read sequentially: one 8-wide vector compare gives an 8-bit mask
/// for 8 neighbouring pixels (bit j = pixel j). Eight channels' masks form an 8×8 bit matrix (byte i = channel i);
/// transposing it gives byte j = pixel j with bit i = channel i, which is exactly one byte of that pixel's word.</para>
/// <para>The comparison is <c>!((x − τ) ≥ 0)</c> on the float difference, the same operations as the lowered ONNX
/// graph (Sub, GreaterOrEqual, Where), so the two agree bit for bit even for NaN.</para>
/// </remarks>
internal static unsafe class ActivationPacker
{
    /// <summary>
    /// Packs pixels [<paramref name="ix0"/>, <paramref name="ix1"/>) of input row <paramref name="iy"/> of image
    /// <paramref name="n"/>. <paramref name="rowDst"/> points at the packed row (pixel 0, word 0).
    /// </summary>
    public static void PackRow(float* x, float* tau, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst) =>
        PackRow(x, tau, cin, h, w, n, iy, ix0, ix1, rowDst, Avx512Vbmi.IsSupported);

    /// <param name="wideTranspose">Pass 2 by <see cref="TransposeChunks"/> (needs AVX-512 VBMI); false: scalar transposes (tests run both).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackRow(float* x, float* tau, int cin, int h, int w, int n, int iy, int ix0, int ix1, ulong* rowDst, bool wideTranspose)
    {
        int words = PackedLayout.WordsFor(cin);
        long plane = (long)h * w;
        float* row0 = x + ((long)n * cin * h + iy) * w; // channel 0 of this row; channel c is at + c·plane
        int chunks = Vector256.IsHardwareAccelerated ? (ix1 - ix0) / 8 : 0;
        if (chunks > 0)
        {
            // Pass 1, one channel row at a time (a single sequential stream): masks[chunk·64 + c % 64] = sign bits
            // of 8 pixels. Pass 2, per chunk: 8 channels' masks are one ulong, an 8×8 bit matrix to transpose.
            const int maxChunks = 64;
            byte* masks = stackalloc byte[maxChunks * 64];
            var zero = Vector256<float>.Zero;
            for (int c0 = 0; c0 < chunks; c0 += maxChunks)
            {
                int n8 = Math.Min(maxChunks, chunks - c0);
                int px0 = ix0 + c0 * 8;
                for (int wi = 0; wi < words; wi++)
                {
                    int cWord = wi * 64, cCount = Math.Min(64, cin - cWord);
                    if (cCount < 64) new Span<byte>(masks, n8 * 64).Clear(); // padding channels stay 0
                    for (int ci = 0; ci < cCount; ci++)
                    {
                        float* src = row0 + (cWord + ci) * plane + px0;
                        var t = Vector256.Create(tau[cWord + ci]);
                        int ch = 0;
                        if (Vector512.IsHardwareAccelerated)
                        {
                            // Two chunks per compare: the low byte of the 16-bit mask is chunk ch, the high byte ch + 1.
                            var t512 = Vector512.Create(tau[cWord + ci]);
                            for (; ch + 2 <= n8; ch += 2)
                            {
                                uint negative = ~(uint)Vector512.GreaterThanOrEqual(Vector512.Load(src + ch * 8) - t512, Vector512<float>.Zero).ExtractMostSignificantBits();
                                masks[ch * 64 + ci] = (byte)negative;
                                masks[(ch + 1) * 64 + ci] = (byte)(negative >> 8);
                            }
                        }
                        for (; ch < n8; ch++)
                        {
                            uint positive = Vector256.GreaterThanOrEqual(Vector256.Load(src + ch * 8) - t, zero).ExtractMostSignificantBits();
                            masks[ch * 64 + ci] = (byte)~positive;
                        }
                    }
                    if (wideTranspose)
                    {
                        TransposeChunks(masks, n8, rowDst + (long)px0 * words + wi, words);
                        continue;
                    }
                    int groups = (cCount + 7) / 8;
                    for (int ch = 0; ch < n8; ch++)
                    {
                        ulong* dst = rowDst + (long)(px0 + ch * 8) * words + wi;
                        ulong w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0;
                        for (int g = 0; g < groups; g++)
                        {
                            ulong t = Transpose8x8(*(ulong*)(masks + ch * 64 + g * 8)); // byte j = pixel j, bit i = channel 8g + i
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
                        dst[0] = w0;
                        dst[words] = w1;
                        dst[2 * words] = w2;
                        dst[3 * words] = w3;
                        dst[4 * words] = w4;
                        dst[5 * words] = w5;
                        dst[6 * words] = w6;
                        dst[7 * words] = w7;
                    }
                }
            }
        }
        for (int ix = ix0 + chunks * 8; ix < ix1; ix++)
            PackOne(row0 + ix, plane, tau, cin, words, rowDst + (long)ix * words);
    }

    /// <summary>
    /// Pass 2 with one chunk per zmm: the 64 mask bytes of a chunk (8 pixels × 64 channels) are 8 ulongs, ulong g
    /// holding channels 8g..8g+7 (byte i = channel 8g + i, bit j = pixel j). <see cref="Transpose8x8"/>'s delta swaps,
    /// lane by lane, make byte j of ulong g pixel j's bits of those channels; a byte permute (<c>vpermb</c>, AVX-512
    /// VBMI) then gathers byte j of every ulong into word j: the pixel's 64 channels, the same word the scalar pass
    /// assembles with 8 transposes and 64 shifts. Padding channels' masks are zero, so all 8 groups can be moved.
    /// </summary>
    private static void TransposeChunks(byte* masks, int chunks, ulong* dst, int words)
    {
        // Output byte 8j + g comes from input byte 8g + j.
        var gather = Vector512.Create((byte)0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58,
            3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61,
            6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63);
        var m28 = Vector512.Create(0x0F0F0F0F00000000UL);
        var m14 = Vector512.Create(0x3333000033330000UL);
        var m7 = Vector512.Create(0x5500550055005500UL);
        for (int ch = 0; ch < chunks; ch++)
        {
            var x = Vector512.Load((ulong*)(masks + ch * 64));
            var t = m28 & (x ^ (x << 28));
            x ^= t ^ (t >> 28);
            t = m14 & (x ^ (x << 14));
            x ^= t ^ (t >> 14);
            t = m7 & (x ^ (x << 7));
            x ^= t ^ (t >> 7);
            var pixels = Avx512Vbmi.PermuteVar64x8(x.AsByte(), gather).AsUInt64(); // word j = pixel j of the chunk
            ulong* d = dst + (long)ch * 8 * words;
            if (words == 1) pixels.Store(d);
            else for (int j = 0; j < 8; j++) d[j * words] = pixels.GetElement(j);
        }
    }

    /// <summary>Packs a whole NCHW tensor into [N, H, W, words] (tests, benchmarks, the reference path).</summary>
    public static ulong[] Pack(ReadOnlySpan<float> x, ReadOnlySpan<float> tau, int batch, int cin, int h, int w) =>
        Pack(x, tau, batch, cin, h, w, Avx512Vbmi.IsSupported);

    internal static ulong[] Pack(ReadOnlySpan<float> x, ReadOnlySpan<float> tau, int batch, int cin, int h, int w, bool wideTranspose)
    {
        if (wideTranspose && !Avx512Vbmi.IsSupported) throw new PlatformNotSupportedException("the wide transpose needs AVX-512 VBMI");
        if (x.Length != (long)batch * cin * h * w) throw new ArgumentException("x does not have N·C·H·W values.", nameof(x));
        if (tau.Length != cin) throw new ArgumentException("tau must have C values.", nameof(tau));
        int words = PackedLayout.WordsFor(cin);
        var packed = new ulong[(long)batch * h * w * words];
        fixed (float* px = x) fixed (float* pt = tau) fixed (ulong* pd = packed)
            for (int n = 0; n < batch; n++)
                for (int iy = 0; iy < h; iy++)
                    PackRow(px, pt, cin, h, w, n, iy, 0, w, pd + ((long)n * h + iy) * w * words, wideTranspose);
        return packed;
    }

    /// <summary>The obviously-correct packer: one pixel, one channel at a time. Also handles row tails.</summary>
    internal static void PackOne(float* pixel, long plane, float* tau, int cin, int words, ulong* dst)
    {
        for (int wi = 0; wi < words; wi++) dst[wi] = 0;
        for (int c = 0; c < cin; c++)
            dst[c >> 6] |= PackedLayout.SignBit(pixel[c * plane] - tau[c]) << (c & 63);
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
