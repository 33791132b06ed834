namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// im2col on packed bits: copies the receptive field of each output pixel in a row segment into the blocked
/// [block][k][pixel] layout of <see cref="IBinaryKernel"/>. A tap outside the image is written as zero words,
/// i.e. +1 for every channel; <see cref="ZeroPaddingCorrection"/> later removes exactly what those taps added.
/// Pixels past the segment end (to fill the last block) are zero and their counts are discarded.
/// </summary>
internal static unsafe class PatchGatherer
{
    /// <param name="packed">Packed activations of image n: [H, W, words].</param>
    /// <param name="y">Output row.</param>
    /// <param name="x0">First output column of the segment.</param>
    /// <param name="count">Output pixels in the segment.</param>
    /// <param name="pixelBlock">The kernel's pixels per block.</param>
    /// <param name="dst">Room for ⌈count / pixelBlock⌉ · pixelBlock · patchWords words.</param>
    public static void Gather(BinaryConv2dParams p, ulong* packed, int y, int x0, int count, int pixelBlock, ulong* dst)
    {
        int words = p.Words, patchWords = p.PatchWords;
        int padded = (count + pixelBlock - 1) / pixelBlock * pixelBlock;
        for (int i = 0; i < padded; i++)
        {
            // Word k of pixel i lives at dst[(block·patchWords + k)·pixelBlock + lane].
            ulong* blockBase = dst + (long)(i / pixelBlock) * patchWords * pixelBlock + i % pixelBlock;
            if (i >= count)
            {
                for (int k = 0; k < patchWords; k++) blockBase[k * pixelBlock] = 0;
                continue;
            }
            int x = x0 + i;
            int k0 = 0;
            for (int ky = 0; ky < p.KernelHeight; ky++)
            {
                int iy = y * p.StrideHeight - p.PadTop + ky * p.DilationHeight;
                bool rowInside = iy >= 0 && iy < p.InHeight;
                for (int kx = 0; kx < p.KernelWidth; kx++, k0 += words)
                {
                    int ix = x * p.StrideWidth - p.PadLeft + kx * p.DilationWidth;
                    if (rowInside && ix >= 0 && ix < p.InWidth)
                    {
                        ulong* src = packed + ((long)iy * p.InWidth + ix) * words;
                        for (int wi = 0; wi < words; wi++) blockBase[(k0 + wi) * pixelBlock] = src[wi];
                    }
                    else
                    {
                        for (int wi = 0; wi < words; wi++) blockBase[(k0 + wi) * pixelBlock] = 0;
                    }
                }
            }
        }
    }
}
