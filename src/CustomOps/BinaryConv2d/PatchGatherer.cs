using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// im2col on packed bits: copies the receptive field of each listed output pixel of one output row into the
/// blocked [block][k][pixel] layout of <see cref="IBinaryKernel"/>. A tap outside the image is written as zero
/// words, i.e. +1 for every channel; <see cref="ZeroPaddingCorrection"/> later removes exactly what those taps
/// added. Pixels past the list end (to fill the last block) are zero and their counts are discarded.
/// </summary>
/// <remarks>
/// The pixels are a list of output columns: consecutive for the dense conv, the active ones for the sparse conv
/// (so a row's active pixels share one popcount pass however they are scattered). Taps are the outer loop so each
/// tap reads one input row left to right. With stride 1, one word per pixel (Cin ≤ 64) and consecutive columns,
/// a block of one tap is one contiguous copy. With Cin ≤ 32 two taps share a word (see
/// <see cref="BinaryConv2dParams.PairTaps"/>); the even tap is written first, the odd one OR-ed into the high half.
/// </remarks>
internal static unsafe class PatchGatherer
{
    /// <param name="packed">Packed activations of image n: [H, W, words].</param>
    /// <param name="y">Output row.</param>
    /// <param name="xs">Output columns, ascending.</param>
    /// <param name="count">Number of columns.</param>
    /// <param name="pixelBlock">The kernel's pixels per block.</param>
    /// <param name="dst">Room for ⌈count / pixelBlock⌉ · pixelBlock · patchWords words.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gather(BinaryConv2dParams p, ulong* packed, int y, int* xs, int count, int pixelBlock, ulong* dst)
    {
        int words = p.Words, patchWords = p.KernelWords, sw = p.StrideWidth;
        bool pair = p.PairTaps;
        int blocks = (count + pixelBlock - 1) / pixelBlock;
        long blockStride = (long)patchWords * pixelBlock;
        for (int ky = 0; ky < p.KernelHeight; ky++)
        {
            int iy = y * p.StrideHeight - p.PadTop + ky * p.DilationHeight;
            bool rowInside = iy >= 0 && iy < p.InHeight;
            ulong* row = packed + (long)iy * p.InWidth * words;
            for (int kx = 0; kx < p.KernelWidth; kx++)
            {
                int tap = ky * p.KernelWidth + kx;
                int k0 = pair ? tap >> 1 : tap * words;
                int shift = pair ? 32 * (tap & 1) : 0; // 32: the odd tap of a pair goes to the high half
                int ixOffset = kx * p.DilationWidth - p.PadLeft; // ix = x·sW + ixOffset
                for (int b = 0; b < blocks; b++)
                {
                    ulong* d = dst + b * blockStride + (long)k0 * pixelBlock;
                    int i0 = b * pixelBlock;
                    if (!rowInside)
                    {
                        // The kernel row lies in the padding: every lane's words are zero (the odd tap of a pair ORs in nothing).
                        if (shift == 0) new Span<ulong>(d, words * pixelBlock).Clear();
                        continue;
                    }
                    if (i0 + pixelBlock <= count && xs[i0] * sw + ixOffset >= 0 && xs[i0 + pixelBlock - 1] * sw + ixOffset < p.InWidth)
                    {
                        // Every lane reads inside the row (the list ascends): no per-lane checks. Consecutive columns
                        // (a dense row) by vector moves where the layout allows; others (other layouts, a sparse row's
                        // scattered active cells) lane by lane.
                        int* x = xs + i0;
                        if (x[pixelBlock - 1] - x[0] == pixelBlock - 1 && VectorBlock(row + (long)(x[0] * sw + ixOffset) * words, d, words, sw, shift, pixelBlock)) continue;
                        if (shift != 0)
                            for (int lane = 0; lane < pixelBlock; lane++) d[lane] |= row[x[lane] * sw + ixOffset] << shift;
                        else
                            for (int lane = 0; lane < pixelBlock; lane++)
                            {
                                ulong* src = row + (long)(x[lane] * sw + ixOffset) * words;
                                for (int wi = 0; wi < words; wi++) d[wi * pixelBlock + lane] = src[wi];
                            }
                        continue;
                    }
                    for (int lane = 0; lane < pixelBlock; lane++)
                    {
                        int i = i0 + lane;
                        int ix = i < count ? xs[i] * sw + ixOffset : -1;
                        bool inside = rowInside && ix >= 0 && ix < p.InWidth;
                        ulong* src = row + (long)ix * words;
                        if (shift != 0) d[lane] |= inside ? src[0] << shift : 0UL; // second tap of a pair
                        else for (int wi = 0; wi < words; wi++) d[wi * pixelBlock + lane] = inside ? src[wi] : 0UL;
                    }
                }
            }
        }
    }

    /// <summary>Even/odd word indices of 16 (two vectors of 8): the deinterleave of two words per pixel.</summary>
    private static readonly Vector512<ulong> EvenWords = Vector512.Create(0UL, 2, 4, 6, 8, 10, 12, 14), OddWords = Vector512.Create(1UL, 3, 5, 7, 9, 11, 13, 15);

    /// <summary>
    /// One block of <paramref name="pixelBlock"/> consecutive lanes whose pixels all lie inside the input row, lane l at
    /// <paramref name="src"/> + l·sW·words, by vector moves where the layout allows: word wi of lane l goes to
    /// d[wi·pixelBlock + l] (OR-ed in, shifted, for the odd tap of a pair). Stride 1 with one word per pixel is a vector
    /// copy; with two words per pixel a vector deinterleave (the 128-channel layers). False (nothing written) for
    /// other shapes, which the caller copies lane by lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool VectorBlock(ulong* src, ulong* d, int words, int sw, int shift, int pixelBlock)
    {
        if (sw == 1 && words == 1 && pixelBlock % 8 == 0 && Vector512.IsHardwareAccelerated)
        {
            for (int l = 0; l < pixelBlock; l += 8)
            {
                var v = Vector512.Load(src + l);
                if (shift != 0) v = (v << 32) | Vector512.Load(d + l);
                v.Store(d + l);
            }
            return true;
        }
        if (sw == 1 && words == 1 && pixelBlock % 4 == 0 && Vector256.IsHardwareAccelerated)
        {
            for (int l = 0; l < pixelBlock; l += 4)
            {
                var v = Vector256.Load(src + l);
                if (shift != 0) v = (v << 32) | Vector256.Load(d + l);
                v.Store(d + l);
            }
            return true;
        }
        if (sw == 1 && words == 2 && pixelBlock % 8 == 0 && Avx512F.IsSupported)
        {
            for (int l = 0; l < pixelBlock; l += 8)
            {
                var lo = Vector512.Load(src + 2 * l);
                var hi = Vector512.Load(src + 2 * l + 8);
                Avx512F.PermuteVar8x64x2(lo, EvenWords, hi).Store(d + l);
                Avx512F.PermuteVar8x64x2(lo, OddWords, hi).Store(d + pixelBlock + l);
            }
            return true;
        }
        return false;
    }
}
